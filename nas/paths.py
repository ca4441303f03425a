"""Where the tool keeps its files by default: one place, importing nothing."""

STUDIES_DIR = "studies"  # default home of databases, artifacts, reports and exports
DEFAULT_STORAGE = f"sqlite:///{STUDIES_DIR}/nas.db"
DEFAULT_DATA_DIR = f"{STUDIES_DIR}/data"  # torchvision datasets are read from / downloaded to here
