"""The brand images: what Home Assistant and HACS read, by the brands repository's rules.

Home Assistant (2026.3+) serves ``custom_components/balupi/brand/<image>`` for the eight
names in ``homeassistant/components/brands/const.py`` (ALLOWED_IMAGES); HACS's brands
check looks for ``brand/icon.png`` there. The sizes, transparency and trimming follow
the image specification in the home-assistant/brands README.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
import subprocess
from types import ModuleType

from PIL import Image
import pytest
import yaml

from custom_components.balupi.const import DOMAIN

ROOT = Path(__file__).parent.parent
BRAND = ROOT / "custom_components" / DOMAIN / "brand"

# homeassistant/components/brands/const.py: any other name is never served.
ALLOWED_IMAGES = {
    f"{dark}{kind}{hdpi}.png"
    for dark in ("", "dark_")
    for kind in ("icon", "logo")
    for hdpi in ("", "@2x")
}
SHIPPED = [
    "icon.png",
    "icon@2x.png",
    "logo.png",
    "logo@2x.png",
    "dark_logo.png",
    "dark_logo@2x.png",
]
# A fully transparent edge wider than this is not "trimmed"; one pixel allows for
# the last, barely covered column of an edge that falls inside a pixel.
MARGIN_PX = 1


def load_brand_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "balupi_brand_script", ROOT / "scripts" / "brand.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered() -> dict[str, Image.Image]:
    images: dict[str, Image.Image] = load_brand_script().render()
    return images


def shipped(name: str) -> Image.Image:
    with Image.open(BRAND / name) as image:
        image.load()  # the pixels stay when the file closes
    return image


def test_the_folder_holds_exactly_the_shipped_images() -> None:
    assert BRAND.is_dir()
    names = {path.name for path in BRAND.iterdir()}
    assert names == set(SHIPPED)
    assert names <= ALLOWED_IMAGES
    # HACS's brands check (validate/brands.py) passes on this file alone.
    assert (BRAND / "icon.png").is_file()


def test_every_dark_image_has_its_hdpi_twin() -> None:
    # Home Assistant's fallback for dark_logo@2x.png is dark_icon@2x.png, then the
    # light logo@2x.png: without the twin, hDPI dark themes get the light artwork.
    for name in SHIPPED:
        if name.startswith("dark_") and "@2x" not in name:
            assert name.replace(".png", "@2x.png") in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_png_with_alpha_and_a_transparent_background(name: str) -> None:
    assert (BRAND / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = shipped(name)
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    alpha = image.getchannel("A")
    # The rounded tile leaves the top-left corner see-through.
    assert alpha.getpixel((0, 0)) == 0
    assert alpha.getextrema() == (0, 255)


@pytest.mark.parametrize(("name", "side"), [("icon.png", 256), ("icon@2x.png", 512)])
def test_icon_sizes(name: str, side: int) -> None:
    assert shipped(name).size == (side, side)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("logo.png", 128, 256),
        ("logo@2x.png", 256, 512),
        ("dark_logo.png", 128, 256),
        ("dark_logo@2x.png", 256, 512),
    ],
)
def test_logo_is_landscape_with_the_largest_allowed_shortest_side(
    name: str, low: int, high: int
) -> None:
    width, height = shipped(name).size
    assert width > height, "a landscape logo is preferred"
    assert low <= min(width, height) <= high
    assert height == high, "the largest shortest side is preferred"


@pytest.mark.parametrize("name", ["logo", "dark_logo", "icon"])
def test_hdpi_is_exactly_twice_the_size(name: str) -> None:
    width, height = shipped(f"{name}.png").size
    assert shipped(f"{name}@2x.png").size == (2 * width, 2 * height)


def test_dark_logo_matches_the_logo() -> None:
    assert shipped("dark_logo.png").size == shipped("logo.png").size
    assert shipped("dark_logo@2x.png").size == shipped("logo@2x.png").size


@pytest.mark.parametrize("name", SHIPPED)
def test_trimmed(name: str) -> None:
    image = shipped(name)
    box = image.getchannel("A").getbbox()
    assert box is not None
    left, top, right, bottom = box
    assert left <= MARGIN_PX
    assert top <= MARGIN_PX
    assert image.width - right <= MARGIN_PX
    assert image.height - bottom <= MARGIN_PX


@pytest.mark.parametrize("name", SHIPPED)
def test_script_redraws_the_same_pixels(
    rendered: dict[str, Image.Image], name: str
) -> None:
    assert set(rendered) == set(SHIPPED)
    fresh = rendered[name]
    image = shipped(name)
    assert fresh.size == image.size
    assert fresh.mode == image.mode
    # Pixels, not bytes: another zlib may compress the same pixels differently.
    assert fresh.tobytes() == image.tobytes(), (
        f"{name} is stale: run .venv/bin/python scripts/brand.py"
    )


def test_script_is_deterministic(rendered: dict[str, Image.Image]) -> None:
    script = load_brand_script()
    again = script.draw_icon(script.ICON_PX)
    assert again.tobytes() == rendered["icon.png"].tobytes()

    def encoded(image: Image.Image) -> bytes:
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()

    assert encoded(again) == encoded(rendered["icon.png"])


def test_small_icon_still_shows_the_mark() -> None:
    # Home Assistant shows the icon at about 40-48 px: the white NAS and the raspberry
    # badge must survive the downscale as distinct colours.
    small = shipped("icon@2x.png").resize((48, 48), Image.Resampling.LANCZOS)
    colours = {
        (r // 32, g // 32, b // 32) for r, g, b, a in small.getdata() if a == 255
    }
    assert (7, 7, 7) in colours  # white
    assert any(r >= 5 and g <= 2 for r, g, _ in colours)  # raspberry
    assert any(r == 0 and b >= 2 for r, _, b in colours)  # navy


def test_hacs_runs_every_check_including_brands() -> None:
    """HACS includes a repository only after a run of its action without ``ignore``;
    its brands check (since HACS 2.0.3) accepts ``brand/icon.png`` in the integration's
    folder of the repository's tree, which is what BaluPi ships."""
    workflow_text = (ROOT / ".github" / "workflows" / "validate.yml").read_text()
    workflow = yaml.safe_load(workflow_text)
    steps = [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("hacs/action")
    ]
    assert len(steps) == 1
    assert steps[0]["with"] == {"category": "integration"}
    assert "ignore" not in workflow_text

    icon = f"custom_components/{DOMAIN}/brand/icon.png"
    listed = subprocess.run(  # noqa: S603 (git, on this repository)
        ["git", "ls-files", "--error-unmatch", icon],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if "not a git repository" not in listed.stderr:  # a bare copy: the file is checked
        assert listed.returncode == 0, (
            f"{icon} is not in the repository: {listed.stderr}"
        )
    assert (ROOT / icon).is_file()
