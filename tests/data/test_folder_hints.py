"""A flat folder of images says that images need class subfolders (issue 15, item 8)."""

from __future__ import annotations

from PIL import Image


def test_flat_folder_of_images_asks_for_class_subfolders(cli, tmp_path):
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(tmp_path / f"img{i}.png")
    code, out, err = cli("data", "info", str(tmp_path))
    assert code == 2 and out == ""
    assert f"{tmp_path} holds 3 images but no class subfolders" in err
    assert "ROOT/<class>/<image>" in err and err.count("\n") == 1
