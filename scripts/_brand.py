"""Draws brand/icon.png, icon@2x.png and logo.png (the project's own artwork).

Run with any Python that has Pillow, e.g. `.venv/bin/python scripts/_brand.py`;
it copies the images to custom_components/kalliopepbx/brand/ as well.
"""

from __future__ import annotations

from pathlib import Path
import shutil

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
BLUE = (21, 101, 192, 255)
WHITE = (255, 255, 255, 255)
DARK = (33, 33, 33, 255)
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu")


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for folder in FONT_DIRS:
        path = Path(folder) / "DejaVuSans-Bold.ttf"
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def icon(size: int) -> Image.Image:
    """A blue rounded square with a white handset and call waves."""
    scale = 4  # draw large, shrink: smooth edges
    side = size * scale
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, side - 1, side - 1), radius=side // 5, fill=BLUE)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, ...]:
        return tuple(int(v * side) for v in (x0, y0, x1, y1))

    # Handset: a thick arc with an ear and a mouth piece.
    draw.arc(box(0.17, 0.22, 0.73, 0.78), 100, 260, fill=WHITE, width=int(side * 0.1))
    for cx, cy in ((0.42, 0.215), (0.42, 0.785)):
        draw.rounded_rectangle(
            box(cx - 0.11, cy - 0.065, cx + 0.09, cy + 0.065),
            radius=int(side * 0.045),
            fill=WHITE,
        )
    # Call waves.
    for i, radius in enumerate((0.14, 0.24, 0.34)):
        cx, cy = 0.5, 0.5
        draw.arc(
            box(cx - radius, cy - radius, cx + radius, cy + radius),
            -50,
            50,
            fill=WHITE,
            width=int(side * (0.05 - i * 0.005)),
        )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int) -> Image.Image:
    """The icon and the product name, on a transparent background."""
    mark = icon(height)
    text = "KalliopePBX"
    typeface = font(int(height * 0.42))
    left, top, right, bottom = typeface.getbbox(text)
    gap = height // 5
    image = Image.new("RGBA", (height + gap + right - left + 8, height), (0, 0, 0, 0))
    image.alpha_composite(mark)
    draw = ImageDraw.Draw(image)
    draw.text(
        (height + gap - left, (height - (bottom - top)) // 2 - top),
        text,
        font=typeface,
        fill=DARK,
    )
    return image


def main() -> None:
    folder = ROOT / "brand"
    folder.mkdir(exist_ok=True)
    icon(256).save(folder / "icon.png", optimize=True)
    icon(512).save(folder / "icon@2x.png", optimize=True)
    logo(128).save(folder / "logo.png", optimize=True)
    logo(256).save(folder / "logo@2x.png", optimize=True)
    copy = ROOT / "custom_components" / "kalliopepbx" / "brand"
    copy.mkdir(exist_ok=True)
    for image in folder.glob("*.png"):
        shutil.copy2(image, copy / image.name)
        print(f"Wrote {image.relative_to(ROOT)} and its copy")


if __name__ == "__main__":
    main()
