"""docs/zoo/: the pages of the families that followed the seed's eleven (scripts/lessons.py's FOLLOWING)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from .test_lessons import ROOT, _load


def test_each_following_family_has_a_page_with_its_blocks_recipe_and_measurement():
    lessons = _load()
    assert {lesson.family for lesson in lessons.FOLLOWING} >= {"inception_v3", "xception"}
    index = (ROOT / "docs" / "zoo" / "README.md").read_text(encoding="utf-8")
    for lesson in lessons.FOLLOWING:
        page = ROOT / "docs" / "zoo" / f"{lesson.family}.md"
        text = page.read_text(encoding="utf-8")
        assert f"]({lesson.family}.md)" in index
        assert f"cnnzoo train --model {lesson.seed}" in text and f"configs/{lesson.seed}.yaml" in text
        for _, cls in lesson.blocks:
            assert f"--block {cls}" in text
        pictures = re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", text)
        assert len(pictures) >= 2 + len(lesson.blocks)  # and the curves, where a result holds them
        for pic in pictures:
            if pic.endswith(".svg"):
                ET.parse(page.parent / pic)
        measured = lessons._measured(lesson.seed)
        assert measured and "PENDING" not in measured and measured.removeprefix("Measured: ") in text
