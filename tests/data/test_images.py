from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistflow.data import images
from mnistflow.data.images import ImageFileError, grayscale, load_framed, mnist_frame

from conftest import REPO
from photo_digits import STYLES, photo_set


def test_a_large_dark_on_light_photo_is_framed_like_mnist(tmp_path, raw_mnist):
    digit = raw_mnist["x_test"][0]
    big = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BILINEAR)  # dark ink on white
    big.save(tmp_path / "seven.png")
    framed = load_framed(tmp_path / "seven.png")[0].pixels
    assert framed.shape == (28, 28) and framed[0].max() < 30  # light digit on black, empty border
    correlation = np.corrcoef(framed.ravel(), digit.astype(np.float32).ravel())[0, 1]
    assert correlation > 0.8
    rows, columns = np.nonzero(framed > 30)
    assert max(rows.max() - rows.min(), columns.max() - columns.min()) <= 22


def test_npy_arrays_of_one_or_many_images(tmp_path, raw_mnist):
    np.save(tmp_path / "one.npy", raw_mnist["x_test"][0])
    np.save(tmp_path / "many.npy", raw_mnist["x_test"][:4])
    assert np.stack([image.pixels for image in load_framed(tmp_path / "one.npy")]).shape == (1, 28, 28)
    assert np.stack([image.pixels for image in load_framed(tmp_path / "many.npy")]).shape == (4, 28, 28)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.png", b"", "file is empty"),
    ("junk.png", b"this is not a picture", "not a readable image"),
    ("shape.npy", None, r"expected a real-valued array of shape \(28, 28\) or \(N, 28, 28\), got float64 \(3, 5\)"),
    ("complex.npy", np.zeros((28, 28), np.complex64), r"expected a real-valued array .* got complex64 \(1, 28, 28\)"),
])
def test_bad_files_are_named_in_the_error(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        np.save(path, np.zeros((3, 5)))
    elif isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_bytes(content)
    with pytest.raises(ImageFileError, match=f"{name}: {message}"):
        load_framed(path)


@pytest.mark.parametrize(("pixel", "message"), [
    (1e39, r"holds NaN or infinite pixels \(in float32\); expected values in 0-255"),  # finite only in float64
    (np.nan, r"holds NaN or infinite pixels \(in float32\); expected values in 0-255"),
    (256.0, "holds pixels from 0 to 256; expected values in 0-255"),
    (-1.0, "holds pixels from -1 to 0; expected values in 0-255"),
    (1e30, "holds pixels from 0 to 1e[+]30; expected values in 0-255"),
])
def test_npy_pixels_are_checked_after_the_cast_and_against_0_to_255(tmp_path, pixel, message):
    array = np.zeros((2, 28, 28), np.float64)
    array[1, 5, 5] = pixel
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ImageFileError, match=f"bad.npy: {message}"):
        load_framed(tmp_path / "bad.npy")


def test_a_folder_is_named_as_a_folder(tmp_path):
    with pytest.raises(ImageFileError, match=f"{tmp_path}: is a folder; give the image files in it"):
        load_framed(tmp_path)


def test_an_image_bomb_is_refused_by_its_size_before_decoding_in_one_line(tmp_path):
    import warnings

    Image.new("L", (8000, 6000)).save(tmp_path / "huge.png")  # 48 megapixels; decoding would take 48 MB and more
    with pytest.raises(ImageFileError, match="huge.png: 8000x6000 pixels is over the limit of 40,000,000 pixels"):
        load_framed(tmp_path / "huge.png")
    Image.new("L", (10000, 10000)).save(tmp_path / "bomb.png")  # over Pillow's own warning limit, 89 MP
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ImageFileError, match="10000x10000 pixels"):
        warnings.simplefilter("always")
        load_framed(tmp_path / "bomb.png")
    assert not caught  # no DecompressionBombWarning line before the error


def test_blank_image_gives_blank_frame():
    assert not mnist_frame(np.zeros((50, 40))).any()


@pytest.mark.parametrize("style", STYLES)
def test_photos_of_every_style_are_framed_like_the_digit_itself(raw_mnist, style):
    """Off-white, grey, gradient-lit, JPEG-noisy, thick or thin pen, light on dark: the framed photo looks like
    the MNIST digit it shows (each photo is a held-out MNIST digit drawn onto paper; tests/photo_digits.py)."""
    shots = [shot for shot in photo_set(raw_mnist["x_test"], raw_mnist["y_test"], 4) if shot[0] == style]
    for _, index, _, picture in shots:
        framed = mnist_frame(grayscale(picture))
        reference = mnist_frame(raw_mnist["x_test"][index])  # the digit itself, framed the same way
        correlation = np.corrcoef(framed.ravel(), reference.ravel())[0, 1]
        assert correlation > 0.8, (style, index, correlation)
        assert framed.max() > 200 and framed[:2].max() < 30  # full-contrast ink, empty border like MNIST


def mode_copies(gray: np.ndarray, folder: Path) -> dict[str, Path]:
    """The same 8-bit gray digit saved in every mode Pillow opens, each at its mode's full range."""
    image = Image.fromarray(gray.astype(np.uint8), "L")
    wide = gray.astype(np.float64) * 257  # 0-255 -> 0-65535
    copies = {"1": image.point(lambda value: 255 if value > 127 else 0).convert("1"), "L": image,
              "LA": image.convert("LA"), "P": image.convert("P"), "RGB": image.convert("RGB"),
              "RGBA": image.convert("RGBA"), "CMYK": image.convert("CMYK"),
              "I;16": Image.fromarray(wide.astype(np.uint16)), "I": Image.fromarray(wide.astype(np.int32)),
              "F": Image.fromarray((gray / 255.0).astype(np.float32))}
    paths = {}
    for mode, copy in copies.items():
        paths[mode] = folder / f"seven-{mode.replace(';', '')}.{'tiff' if mode in ('F', 'CMYK', 'I') else 'png'}"
        copy.save(paths[mode])
    return paths


def test_every_pillow_mode_is_read_by_its_own_range(tmp_path):
    """A 16-bit PNG of a digit (0-65535) is the same digit as its 8-bit copy, not one clipped to white."""
    gray = np.asarray(Image.open(REPO / "docs" / "images" / "seven.png").convert("L"), np.float32)
    for mode, path in mode_copies(gray, tmp_path).items():
        assert Image.open(path).mode == mode
        read = images.load_photo(path)
        expected = (gray > 127) * 255.0 if mode == "1" else gray
        assert np.abs(read - expected).max() <= 1.0, mode
        assert images.frame(read).pieces >= 1, mode


@pytest.mark.parametrize("side", [280, 560])
def test_a_one_drawn_with_a_one_pixel_pen_keeps_its_ink_when_framed(tmp_path, side):
    """Shrunk to 20x20, a 1-pixel line of a large drawing would fade below the ink level ("no ink found")."""
    from PIL import ImageDraw

    drawing = Image.new("L", (side, side), 255)
    pen, step = ImageDraw.Draw(drawing), side / 28
    pen.line([(14 * step, 4 * step), (14 * step, 24 * step)], fill=0, width=1)  # the stem
    pen.line([(14 * step, 4 * step), (11 * step, 7 * step)], fill=0, width=1)  # the flag
    drawing.save(tmp_path / "one.png")
    framed = load_framed(tmp_path / "one.png")[0]
    assert framed.pixels.max() > 200 and (framed.pixels > 127).sum() >= 15
    rows, columns = np.nonzero(framed.pixels > 127)
    assert np.ptp(rows) >= 15 and np.ptp(columns) <= 8  # tall and narrow: a 1


def test_a_product_photo_is_fitted_whole_as_fashion_mnist_frames_its_images():
    garment = np.zeros((28, 28), np.uint8)  # a light pair of trousers on black, filling the height, as Fashion-MNIST
    garment[:, 8:20] = 200                  # stores its product photos
    garment[10:, 13:15] = 0
    page = Image.new("L", (300, 260), 255)
    page.paste(Image.fromarray(255 - garment).resize((230, 230), Image.Resampling.BICUBIC), (35, 15))
    framed = images.fit_frame(np.asarray(page, np.float32))
    assert framed.pixels.shape == (28, 28) and framed.pixels.max() == pytest.approx(255)
    correlation = np.corrcoef(framed.pixels.ravel(), garment.ravel().astype(np.float32))[0, 1]
    assert correlation > 0.8, correlation  # the digit framing would cut the block to 20x20 by its mass instead
