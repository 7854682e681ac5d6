"""Renders resources/icons/app.svg (the GUI's icon) to the PNG that the bundle and the
Linux desktop entry use: PyInstaller turns a PNG into the .ico/.icns it needs, and
not every desktop shows SVG icons in menus. Rerun after changing the SVG:

    .venv/bin/python packaging/render_icon.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "resources" / "icons" / "app.svg"
PNG = ROOT / "resources" / "icons" / "sd-desk.png"
SIZE = 256  # the largest size Windows' .ico and freedesktop's hicolor theme ask for commonly


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (fonts, paint engines)
    image = QImage(SIZE, SIZE, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    if not image.save(str(PNG)):
        print(f"could not write {PNG}", file=sys.stderr)
        return 1
    print(f"wrote {PNG} ({SIZE}x{SIZE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
