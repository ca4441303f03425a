"""Image folders: one sub-folder per class (or ``train/`` and ``test/`` trees of them), scanned,
checked and decoded into a ``Dataset``, with the memory they will take checked first."""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.dataset import MIN_RESOLUTION, Dataset, check_resolutions, make_dataset
from nas.units import human

# Image folders keep their pictures' own size (the median shorter side), up to this by default:
# larger inputs make every proxy trial slow; --resolutions asks for more, up to MAX_RESOLUTION.
FOLDER_DEFAULT_MAX = 128
WIDE_GREY_MODES = {"I", "I;16", "I;16B", "I;16L", "F"}  # PIL modes of 16-bit and float greyscale pictures
GREY_MODES = {"1", "L", "LA", *WIDE_GREY_MODES}  # PIL modes kept as one channel
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
MEMORY_SHARE = 0.8  # of the memory available now, what a dataset may take by default


@dataclass(frozen=True)
class FolderTree:
    """An image-folder tree, scanned: files, labels, and each picture's size and mode (headers only)."""

    classes: list[str]
    paths: list[str]
    labels: np.ndarray
    sizes: list[tuple[int, int]]
    grey: bool  # every picture is greyscale
    skipped: int  # files in the class folders that are not pictures by their extension


@contextlib.contextmanager
def open_picture(path: str) -> Iterator:
    """A PIL image; ValueError (one line, naming the file) if it is not a readable picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            yield img
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:  # PIL raises SyntaxError for some files
        raise ValueError(f"{path} is not a readable image ({type(exc).__name__}); remove it or fix it") from None


def scan_folder(root: Path) -> FolderTree:
    """List an image-folder tree and read each picture's header; ValueError naming a bad file."""
    from torchvision.datasets import DatasetFolder

    try:
        tree = DatasetFolder(str(root), loader=lambda path: path, extensions=IMAGE_EXTENSIONS)
    except (FileNotFoundError, RuntimeError) as exc:
        raise ValueError(f"image folder {root} has no class folders with images: {exc}") from None
    sizes, grey = [], True
    for path, _ in tree.samples:
        with open_picture(path) as img:
            sizes.append(img.size)
            grey = grey and _is_grey(img)
    others = sum(1 for c in tree.classes for f in (root / c).rglob("*") if f.is_file()) - len(tree.samples)
    return FolderTree(tree.classes, [p for p, _ in tree.samples], np.asarray(tree.targets), sizes, grey, others)


def read_images(paths: Sequence[str], size: int, channels: int) -> np.ndarray:
    """Decode pictures into one (N, C, size, size) uint8 array, each squashed to the square (the
    whole picture kept, as Keras' image_dataset_from_directory does); decoded on a few threads."""
    from PIL import Image

    out = np.empty((len(paths), channels, size, size), np.uint8)
    mode = "L" if channels == 1 else "RGB"

    def read(i: int) -> None:
        with open_picture(paths[i]) as img:
            picture = np.asarray(_8bit(img).convert(mode).resize((size, size), Image.Resampling.BILINEAR))
        out[i] = picture[None] if channels == 1 else picture.transpose(2, 0, 1)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(read, range(len(paths))))  # PIL decodes without the GIL
    return out


def _is_grey(img) -> bool:  # noqa: ANN001 (a PIL image, from its header)
    """Greyscale by its mode, or a palette of greys only (a GIF of a greyscale picture)."""
    if img.mode == "P":
        palette = img.getpalette() or []
        return palette[0::3] == palette[1::3] == palette[2::3]
    return img.mode in GREY_MODES


def _8bit(img):  # noqa: ANN001, ANN202 (PIL images; PIL is imported lazily)
    """16-bit and float greyscale pictures as 8-bit ones, scaled (PIL's own convert clips them)."""
    if img.mode not in WIDE_GREY_MODES:
        return img
    from PIL import Image

    x = np.asarray(img, np.float64)
    top = 1.0 if img.mode == "F" and x.max() <= 1.0 else 255.0 if x.max() <= 255 else 65535.0
    return Image.fromarray(np.clip(np.round(x * (255.0 / top)), 0, 255).astype(np.uint8), mode="L")


def default_resolutions(size: int) -> tuple[int, ...]:
    """Half, three quarters and all of the stored size, in multiples of 4: 32 -> 16, 24, 32."""
    return tuple(sorted({max(MIN_RESOLUTION, 4 * round(size * f / 4)) for f in (0.5, 0.75)} | {size}))


def available_memory() -> int:
    """Bytes of memory available now (Linux MemAvailable; else all physical memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(what: str, n: int, channels: int, size: int, resolutions: Sequence[int], limit: int | None) -> None:
    """Refuse, before anything is decoded, a set whose uint8 images (with their copies at the
    other resolutions, and the one copy made while splitting) would not fit in ``limit`` bytes."""
    per_image = channels * sum(r * r for r in {*resolutions, size}) + channels * size * size
    needed = n * per_image
    limit = int(MEMORY_SHARE * available_memory()) if limit is None else limit
    if needed > limit:
        raise ValueError(
            f"{what}: {n:,} images at {channels}x{size}x{size} need about {human(needed)}B in memory, more than "
            f"the {human(limit)}B allowed (--data-memory); pass smaller --resolutions or use fewer images"
        )


def load_folder(
    path: str,
    *,
    resolutions: Sequence[int] | None = None,
    hflip: bool | None = None,
    channels: int | None = None,
    memory_limit: int | None = None,
) -> Dataset:
    """An image-folder tree (one sub-folder per class), or ``train/`` + ``test/`` trees.

    Pictures keep their own size: stored at ``max(resolutions)``, by default the median shorter
    side up to FOLDER_DEFAULT_MAX, searched at half, three quarters and all of it. Greyscale sets
    keep one channel (``channels`` forces 1 or 3). Flips are on unless ``hflip=False``."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist")
    split_trees = (root / "train").is_dir() and (root / "test").is_dir()
    trees = [scan_folder(root / "train"), scan_folder(root / "test")] if split_trees else [scan_folder(root)]
    if split_trees and trees[1].classes != trees[0].classes:
        raise ValueError(f"image folder {root}: train classes {trees[0].classes} differ from test classes "
                         f"{trees[1].classes}")  # fmt: skip
    if len(trees[0].classes) < 2:
        raise ValueError(f"image folder {root} needs at least 2 class folders, found {trees[0].classes}")
    sizes = [s for tree in trees for s in tree.sizes]
    median_side = int(statistics.median(min(w, h) for w, h in sizes))
    if resolutions:
        resolutions = check_resolutions(resolutions)
        note = f"images {median_side} px (median shorter side), stored at {max(resolutions)} px"
    else:
        size = max(MIN_RESOLUTION, 4 * (min(FOLDER_DEFAULT_MAX, median_side) // 4))  # whole multiples of 4
        resolutions = default_resolutions(size)
        limit = f", at most {FOLDER_DEFAULT_MAX} by default" if median_side > FOLDER_DEFAULT_MAX else ""
        note = f"resolutions from the images' median shorter side, {median_side} px{limit}; --resolutions to choose"
    if skipped := sum(tree.skipped for tree in trees):
        note += f"; {skipped} file{'s' * (skipped > 1)} not pictures by their name skipped"
    size = max(resolutions)
    channels = channels or (1 if all(tree.grey for tree in trees) else 3)
    check_memory(f"image folder {root}", len(sizes), channels, size, resolutions, memory_limit)
    arrays = [(read_images(tree.paths, size, channels), tree.labels) for tree in trees]
    return make_dataset(
        f"folder:{root.name}", arrays[0], arrays[1] if split_trees else None,
        hflip=True if hflip is None else hflip, resolutions=resolutions, note=note,
    )  # fmt: skip
