"""`maplexp calc`: the end-to-end goldens of valuation spec 8.11 and 8.12, the V4 JSON shape, the
readable table, the preset-only view, and precise errors for bad input."""
import json

import pytest

from conftest import BLACK_TABLE, SAMPLE

PINNED = ("--calculated-at", "2026-01-25T14:30:00.123456")

# 8.11 preset-1 items with the BLACK table alone:
# (slot, name, level, method, target, min, tableLevel, trials, black cost, T, starforce, item total)
PRESET1_BLACK_ONLY = [
    ("모자", "에테르넬 메이지햇", 250, "EXACT_MATCH", None, None, 250, 1616, 80800000000, 22, 31580860664, 112380860664),
    ("귀고리", "커맨더 포스 이어링", 200, "THRESHOLD", "INT_PERCENT", 33, 200, 2963, 133335000000, 22, 16169451106, 149504451106),
    ("상의", "에테르넬 메이지로브", 250, "THRESHOLD", "INT_PERCENT", 30, 250, 364, 18200000000, 22, 31580860664, 49780860664),
    ("하의", "에테르넬 메이지팬츠", 250, "THRESHOLD", "INT_PERCENT", 33, 250, 497, 24850000000, 22, 31580860664, 56430860664),
    ("신발", "아케인셰이드 메이지슈즈", 200, "EXACT_MATCH", None, None, 200, 6511, 292995000000, 22, 16169451106, 309164451106),
    ("장갑", "아케인셰이드 메이지글러브", 200, "THRESHOLD", "CRITICAL_DAMAGE", 16, 110, 332, 14940000000, 22, 16169451106, 31109451106),
    ("망토", "아케인셰이드 메이지케이프", 200, "THRESHOLD", "INT_PERCENT", 27, 200, 191, 8595000000, 22, 16169451106, 24764451106),
    ("무기", "제네시스 스태프", 200, "THRESHOLD", "BOSS_DAMAGE", 95, 200, 1091, 49095000000, 22, 16169451106, 65264451106),
    ("훈장", "칠요의 몬스터파커", 100, None, None, None, None, None, 0, 0, 0, 0),
    ("벨트", "몽환의 벨트", 200, "THRESHOLD", "INT_PERCENT", 33, 200, 2440, 109800000000, 22, 16169451106, 125969451106),
    ("어깨장식", "아케인셰이드 메이지숄더", 200, "EXACT_MATCH", None, None, 200, 5050, 227250000000, 22, 16169451106, 243419451106),
    ("포켓 아이템", "저주받은 청의 마도서", 160, None, None, None, None, None, 0, 0, 0, 0),
    ("기계 심장", "슈페리얼 리튬 하트", 80, "THRESHOLD", "INT_PERCENT", 27, 100, 108, 4320000000, 5, 172244, 4320172244),
    ("뱃지", "칠요의 뱃지", 100, None, None, None, None, None, 0, 0, 0, 0),
    ("엠블렘", "미트라의 분노 : 마법사", 200, "EXACT_MATCH", None, None, 200, 8877, 399465000000, 0, 0, 399465000000),
    ("얼굴장식", "레드 매지션 마이스터 심볼", 100, "EXACT_MATCH", None, None, 100, 2449, 97960000000, 8, 896859, 97960896859),
    ("눈장식", "파풀라투스 마크", 145, "THRESHOLD", "ITEM_DROP", 40, 140, 654, 26160000000, 22, 6161888370, 32321888370),
    ("반지1", "SS급 마스터 쥬얼링", 120, "THRESHOLD", "ITEM_DROP", 20, 120, 11, 440000000, 0, 0, 440000000),
    ("반지2", "테네브리스 원정대 반지", 120, "THRESHOLD", "ITEM_DROP", 20, 120, 11, 440000000, 0, 0, 440000000),
    ("반지3", "결속의 반지", 120, "THRESHOLD", "ITEM_DROP", 20, 120, 11, 440000000, 0, 0, 440000000),
    ("반지4", "코스모스 링", 120, "THRESHOLD", "ITEM_DROP", 20, 120, 11, 440000000, 0, 0, 440000000),
    ("펜던트", "도미네이터 펜던트", 140, "EXACT_MATCH", None, None, 140, 2939, 117560000000, 21, 3295078972, 120855078972),
    ("펜던트2", "그리드 펜던트", 75, "THRESHOLD", "ITEM_DROP", 20, 100, 52, 2080000000, 0, 0, 2080000000),
]


@pytest.fixture(scope="module")
def black_only(cli):
    return cli.json("calc", SAMPLE, "--json", "--tables", BLACK_TABLE, *PINNED)


@pytest.fixture(scope="module")
def full(cli):
    return cli.json("calc", SAMPLE, "--json", *PINNED)


def test_black_only_totals(black_only):
    """8.11: preset totals, breakdowns, incomplete counts and the top level with the BLACK table alone."""
    want = {
        1: (23, 16, 1609165000000, 217386776179, 1826551776179, "1조 8265억 5177만"),
        2: (24, 20, 3076580000000, 268305981940, 3344885981940, "3조 3448억 8598만"),
        3: (23, 16, 1487170000000, 185050028230, 1672220028230, "1조 6722억 2002만"),
    }
    assert [p["presetNo"] for p in black_only["presets"]] == [1, 2, 3]
    for p in black_only["presets"]:
        items, incomplete, black, sf, total, text = want[p["presetNo"]]
        assert len(p["items"]) == items
        assert p["incompleteItemCount"] == incomplete
        assert p["costBreakdown"] == {"blackCubeCost": black, "redCubeCost": 0, "additionalCubeCost": 0,
                                      "starforceCost": sf}
        assert p["totalExpectedCost"] == total
        assert p["totalCostText"] == text
        assert p["complete"] is False
    assert black_only["maxPresetNo"] == 2
    assert black_only["totalExpectedCost"] == 3344885981940
    assert black_only["totalCostText"] == "3조 3448억 8598만"
    assert black_only["totalComplete"] is False
    assert black_only["totalCostBreakdown"]["blackCubeCost"] == 3076580000000


def test_black_only_preset1_items(black_only):
    """8.11: every preset-1 item's black cube, starforce and item total; additional cubes are NO_TABLE."""
    items = black_only["presets"][0]["items"]
    assert len(items) == len(PRESET1_BLACK_ONLY)
    for item, want in zip(items, PRESET1_BLACK_ONLY):
        slot, name, level, method, target, mn, tlevel, trials, cost, star, sf, total = want
        assert (item["itemSlot"], item["itemName"], item["itemLevel"]) == (slot, name, level)
        cube = item["blackCubeExpectation"]
        if method is None:
            assert cube["status"] == "NOT_APPLICABLE"
            assert cube["expectedCost"] == 0 and cube["costPerCube"] is None
        else:
            assert cube["status"] == "OK", (name, cube)
            assert (cube["method"], cube["targetStat"], cube["minTotal"]) == (method, target, mn), name
            assert (cube["tableLevel"], cube["expectedTrials"], cube["expectedCost"]) == (tlevel, trials, cost), name
        assert item["targetStar"] == star, name
        assert item["costBreakdown"]["starforceCost"] == (sf if star else 0), name
        assert item["expectedCost"] == total, name
        add = item["additionalCubeExpectation"]
        if add["status"] != "NOT_APPLICABLE":
            assert add["status"] == "NO_TABLE" and add["expectedCost"] is None
            assert item["complete"] is False
            assert item["costBreakdown"]["additionalCubeCost"] is None


def test_black_only_other_items(black_only):
    """8.11: 드래곤마스터의 유산, 하프 이어링 and 블루 엘리멘탈 글로브 from presets 2 and 3."""
    by_name = {}
    for p in black_only["presets"]:
        for it in p["items"]:
            by_name.setdefault(it["itemName"], it)
    doc = by_name["드래곤마스터의 유산"]["blackCubeExpectation"]
    assert by_name["드래곤마스터의 유산"]["itemPart"] == "보조무기"
    assert (doc["targetStat"], doc["minTotal"], doc["tableLevel"], doc["expectedTrials"], doc["expectedCost"]) == \
        ("MAGIC_POWER_PERCENT", 33, 100, 39571, 1582840000000)
    assert doc["successProbability"] == pytest.approx(2.527082404535691e-05, rel=1e-12)
    harp = by_name["하프 이어링"]
    assert (harp["blackCubeExpectation"]["targetStat"], harp["blackCubeExpectation"]["expectedTrials"]) == \
        ("ITEM_DROP", 654)
    assert harp["blackCubeExpectation"]["expectedCost"] == 26160000000
    assert harp["costBreakdown"]["starforceCost"] == 142600
    glove = by_name["블루 엘리멘탈 글로브"]
    g = glove["blackCubeExpectation"]
    assert (g["targetStat"], g["minTotal"], g["expectedTrials"], g["expectedCost"]) == ("LUK_PERCENT", 9, 3, 120000000)
    assert g["successProbability"] == pytest.approx(0.3582390133344063, rel=1e-12)
    assert (g["p50Trials"], g["p90Trials"], g["p99Trials"]) == (2, 6, 11)
    assert glove["costBreakdown"]["starforceCost"] == 2011663


def test_spec_example_item_exactly(black_only):
    """6.4: the example item (커맨더 포스 이어링, BLACK table alone) is reproduced field for field."""
    want = json.loads(r'''
{ "itemName": "커맨더 포스 이어링", "itemIcon": "https://open.api.nexon.com/static/maplestory/item/icon/KEPBJEPH",
  "itemSlot": "귀고리", "itemPart": "귀고리", "itemLevel": 200,
  "expectedCost": 149504451106, "expectedCostText": "1495억 445만", "complete": false,
  "costBreakdown": {"blackCubeCost": 133335000000, "redCubeCost": 0, "additionalCubeCost": null, "starforceCost": 16169451106},
  "enhancePath": "커맨더 포스 이어링 > 블랙큐브(윗잠) > 에디셔널큐브(아랫잠) > 스타포스(0→22성)",
  "potentialGrade": "레전드리", "additionalPotentialGrade": "레전드리",
  "currentStar": 0, "targetStar": 22, "isNoljang": false, "specialRingLevel": 0,
  "blackCubeExpectation": {"status": "OK", "reason": null, "cubeType": "BLACK", "currentGrade": "레전드리", "targetGrade": "레전드리",
     "potential": "INT +12% | INT +12% | INT +9%", "method": "THRESHOLD", "targetStat": "INT_PERCENT", "minTotal": 33,
     "tableLevel": 200, "tableMass": [0.9999990000000001, 1.00000182, 0.9999979999999999],
     "successProbability": 0.0003374937403398453, "expectedTrialsExact": 2963.017918474672, "expectedTrials": 2963,
     "p50Trials": 2054, "p90Trials": 6822, "p99Trials": 13643, "costPerCube": 45000000,
     "expectedCost": 133335000000, "expectedCostText": "1333억 3500만",
     "p50Cost": 92430000000, "p90Cost": 306990000000, "p99Cost": 613935000000},
  "additionalCubeExpectation": {"status": "NO_TABLE", "reason": "REASON",
     "cubeType": "ADDITIONAL", "currentGrade": "레전드리", "targetGrade": "레전드리",
     "potential": "캐릭터 기준 9레벨 당 INT +2 | 올스탯 +5% | INT +6%", "method": "EXACT_MATCH", "targetStat": null, "minTotal": null,
     "tableLevel": null, "tableMass": null, "successProbability": null, "expectedTrialsExact": null, "expectedTrials": null,
     "p50Trials": null, "p90Trials": null, "p99Trials": null, "costPerCube": null, "expectedCost": null, "expectedCostText": null,
     "p50Cost": null, "p90Cost": null, "p99Cost": null},
  "starforceExpectation": {"status": "OK", "reason": null, "currentStar": 0, "targetStar": 22, "isNoljang": false,
     "costWithoutDestroyPrevention": 16169451100, "costWithoutDestroyPreventionText": "161억 6945만", "expectedDestroyCountWithout": 3.87,
     "costWithDestroyPrevention": 21503968000, "costWithDestroyPreventionText": "215억 396만", "expectedDestroyCountWith": 2.43},
  "flameExpectation": {"status": "OK", "reason": null, "targetScore": 1656, "bossDrop": true,
     "powerfulFlameTrials": 10.09, "eternalFlameTrials": 7.14, "abyssFlameTrials": 5.79,
     "powerfulFlameReason": null, "eternalFlameReason": null, "abyssFlameReason": null} }''')
    got = black_only["presets"][0]["items"][1]
    reason = got["additionalCubeExpectation"]["reason"]
    assert isinstance(reason, str) and reason  # free text, but present
    got["additionalCubeExpectation"]["reason"] = "REASON"
    for key in ("tableMass",):
        for a, b in zip(got["blackCubeExpectation"][key], want["blackCubeExpectation"][key]):
            assert a == pytest.approx(b, rel=1e-12)
        got["blackCubeExpectation"][key] = want["blackCubeExpectation"][key]
    for key in ("successProbability", "expectedTrialsExact"):
        assert got["blackCubeExpectation"][key] == pytest.approx(want["blackCubeExpectation"][key], rel=1e-12)
        got["blackCubeExpectation"][key] = want["blackCubeExpectation"][key]
    assert got == want


def test_both_tables_totals(full):
    """8.12: with both shipped tables every item is complete; preset totals and breakdowns."""
    want = {
        1: (1609165000000, 5447853125000, 217386776179, 7274404901179, "7조 2744억 490만"),
        2: (3076580000000, 6411169375000, 268305981940, 9756055356940, "9조 7560억 5535만"),
        3: (1487170000000, 4595686225000, 185050028230, 6267906253230, "6조 2679억 625만"),
    }
    for p in full["presets"]:
        black, add, sf, total, text = want[p["presetNo"]]
        assert p["costBreakdown"] == {"blackCubeCost": black, "redCubeCost": 0, "additionalCubeCost": add,
                                      "starforceCost": sf}
        assert (p["totalExpectedCost"], p["totalCostText"], p["complete"], p["incompleteItemCount"]) == \
            (total, text, True, 0)
    assert (full["maxPresetNo"], full["totalExpectedCost"], full["totalComplete"]) == (2, 9756055356940, True)
    assert full["totalCostText"] == "9조 7560억 5535만"
    assert full["characterClass"] == "에반"
    assert full["userIgn"] == "" and full["fromCache"] is False
    assert full["calculatedAt"] == PINNED[1]


def test_both_tables_preset1_additional(full):
    """8.12: preset-1 additional cubes (method, target, tableLevel, trials, cost)."""
    want = {
        "에테르넬 메이지햇": ("EXACT_MATCH", None, None, 201, 12125, 788125000000),
        "커맨더 포스 이어링": ("EXACT_MATCH", None, None, 111, 8791, 514273500000),
        "아케인셰이드 메이지슈즈": ("EXACT_MATCH", None, None, 111, 7965, 396059625000),
        "아케인셰이드 메이지숄더": ("THRESHOLD", "INT_PERCENT", 8, 111, 21, 1228500000),
        "슈페리얼 리튬 하트": ("THRESHOLD", "INT_PERCENT", 4, 71, 7, 364000000),
        "미트라의 분노 : 마법사": ("THRESHOLD", "MAGIC_POWER_PERCENT", 21, 111, 203, 11875500000),
        "레드 매지션 마이스터 심볼": ("EXACT_MATCH", None, None, 91, 990, 12870000000),
        "테네브리스 원정대 반지": ("THRESHOLD", "MAGIC_POWER", 13, 111, 163, 2119000000),
        "도미네이터 펜던트": ("THRESHOLD", "INT_PERCENT", 6, 111, 260, 9464000000),
    }
    seen = set()
    for item in full["presets"][0]["items"]:
        if item["itemName"] in want:
            a = item["additionalCubeExpectation"]
            got = (a["method"], a["targetStat"], a["minTotal"], a["tableLevel"], a["expectedTrials"], a["expectedCost"])
            assert got == want[item["itemName"]], item["itemName"]
            seen.add(item["itemName"])
        assert item["complete"] is True
    assert seen == set(want)


def test_every_field_always_present(full):
    """6.4: every documented field is present on every item and component (null when undefined)."""
    item_keys = {"itemName", "itemIcon", "itemSlot", "itemPart", "itemLevel", "expectedCost", "expectedCostText",
                 "complete", "costBreakdown", "enhancePath", "potentialGrade", "additionalPotentialGrade",
                 "currentStar", "targetStar", "isNoljang", "specialRingLevel", "blackCubeExpectation",
                 "additionalCubeExpectation", "starforceExpectation", "flameExpectation"}
    cube_keys = {"status", "reason", "cubeType", "currentGrade", "targetGrade", "potential", "method", "targetStat",
                 "minTotal", "tableLevel", "tableMass", "successProbability", "expectedTrialsExact", "expectedTrials",
                 "p50Trials", "p90Trials", "p99Trials", "costPerCube", "expectedCost", "expectedCostText", "p50Cost",
                 "p90Cost", "p99Cost"}
    for p in full["presets"]:
        for it in p["items"]:
            assert set(it) == item_keys
            assert set(it["blackCubeExpectation"]) == cube_keys
            assert set(it["additionalCubeExpectation"]) == cube_keys
            assert it["currentStar"] == 0
            for comp in ("blackCubeExpectation", "additionalCubeExpectation"):
                c = it[comp]
                assert (c["reason"] is None) == (c["status"] == "OK")


def test_flame_goldens_in_output(full):
    """8.10 through the whole pipeline: flame trials per item of the sample."""
    want = {
        "에테르넬 메이지햇": (1842, True, 20.09, 14.26, 11.47),
        "커맨더 포스 이어링": (1656, True, 10.09, 7.14, 5.79),
        "블루 엘리멘탈 글로브": (300, False, 3.90, 3.15, 2.74),
        "제네시스 스태프": (10664, True, 213.03, 84.86, 45.69),
        "루즈 컨트롤 머신 마크": (1350, True, 1405.01, 424.42, 198.42),
        "저주받은 청의 마도서": (1350, False, None, 868965517.24, 37254901.96),
    }
    found = {}
    for p in full["presets"]:
        for it in p["items"]:
            if it["itemName"] in want:
                f = it["flameExpectation"]
                found[it["itemName"]] = (f["targetScore"], f["bossDrop"], f["powerfulFlameTrials"],
                                         f["eternalFlameTrials"], f["abyssFlameTrials"])
                if f["powerfulFlameTrials"] is None:
                    assert f["powerfulFlameReason"]
    assert found == want


def test_preset_only_view(cli, full):
    """--preset N: the preset-only view (6.4): one preset, its totals, maxPresetNo = N."""
    view = cli.json("calc", SAMPLE, "--json", "--preset", "3", *PINNED)
    assert [p["presetNo"] for p in view["presets"]] == [3]
    assert view["maxPresetNo"] == 3
    assert view["totalExpectedCost"] == 6267906253230
    assert view["totalCostText"] == "6조 2679억 625만"
    assert view["presets"][0] == full["presets"][2]


def test_preset_only_view_of_absent_preset(cli):
    """A preset-only view of a preset the payload does not have: empty, zeros, "0", complete."""
    payload = json.dumps({"character_class": "에반", "item_equipment_preset_1": [
        {"item_equipment_slot": "모자", "starforce": "10", "item_base_option": {"base_equipment_level": 150}}]})
    view = cli.json("calc", "-", "--json", "--preset", "2", *PINNED, input=payload.encode())
    assert view["presets"] == []
    assert (view["totalExpectedCost"], view["totalCostText"], view["totalComplete"], view["maxPresetNo"]) == \
        (0, "0", True, 0)
    assert view["totalCostBreakdown"] == {"blackCubeCost": 0, "redCubeCost": 0, "additionalCubeCost": 0,
                                          "starforceCost": 0}


def test_no_presets(cli):
    """6.3: no presets → total 0, text "0", maxPresetNo 0, presets empty."""
    view = cli.json("calc", "-", "--json", *PINNED, input=b'{"character_class": null}')
    assert (view["totalExpectedCost"], view["totalCostText"], view["maxPresetNo"], view["presets"]) == (0, "0", 0, [])
    assert view["characterClass"] is None


def test_stdin_and_gzip_match_file(cli, full, sample_bytes, sample_gz):
    """FILE '-' reads stdin; a gzip-compressed file is gunzipped; both give the same JSON."""
    assert cli.json("calc", "-", "--json", *PINNED, input=sample_bytes) == full
    assert cli.json("calc", sample_gz, "--json", *PINNED) == full


def test_class_and_ign_flags(cli):
    """--class overrides the payload's class (flame weights change); --ign sets userIgn."""
    view = cli.json("calc", SAMPLE, "--json", "--class", "히어로", "--ign", "테스트", *PINNED)
    assert view["characterClass"] == "히어로" and view["userIgn"] == "테스트"
    hat = view["presets"][0]["items"][0]["flameExpectation"]
    assert hat["targetScore"] != 1842  # STR/DEX weights score the same flame differently


def test_readable_table(cli):
    """Without --json: a table per preset with items, costs, and totals in Korean text and plain numbers."""
    proc = cli.run("calc", SAMPLE)
    assert proc.returncode == 0, proc.stderr_text
    out = proc.stdout_text
    for n in (1, 2, 3):
        assert f"Preset {n}:" in out
    assert "커맨더 포스 이어링" in out
    assert "9조 7560억 5535만" in out and "9,756,055,356,940" in out
    assert "7,274,404,901,179" in out and "6,267,906,253,230" in out
    assert "2963× 1333억 3500만" in out  # trials and cost of the black cube
    assert "22★" in out and "10.09/7.14/5.79" in out


def test_errors(cli, tmp_path, sample_bytes):
    """Bad input: one line on stderr, exit 2, nothing on stdout."""
    cli.fails("calc", tmp_path / "missing.json", contains="cannot read")
    cli.fails("calc", contains="missing FILE")
    cli.fails("calc", SAMPLE, "--preset", "4", contains="--preset must be 1, 2 or 3")
    cli.fails("calc", SAMPLE, "--bogus", contains="unknown option")
    cli.fails("calc", "-", input=b'{"a": [1,,2]}', contains="invalid JSON at byte 9")
    cli.fails("calc", "-", input=b"", contains="invalid JSON at byte 0")
    cli.fails("calc", "-", input=b'{"item_equipment_preset_1": {}}',
              contains="$.item_equipment_preset_1: expected an array, got an object")
    cli.fails("calc", "-", input=b'[]', contains="expected an object")
    cli.fails("calc", "-", input=b"\x1f\x8b\x08\x00garbage", contains="corrupt gzip")
    cli.fails("calc", SAMPLE, "--tables", tmp_path / "none.csv", contains="cannot read")
    bad = tmp_path / "bad.csv"
    bad.write_text("option,rate,slot,potential_option_grade,base_equipment_level,item_equipment_slot,cube_type\n"
                   "STR +12%,abc,1,레전드리,200,모자,BLACK\n")
    cli.fails("calc", SAMPLE, "--tables", bad, contains=":2:")


def test_truncated_payloads_never_crash(cli, sample_bytes):
    """Truncated copies of the sample: a clear error (exit 2) or, for a cut in trailing whitespace, a result."""
    for cut in (1, 100, 5000, len(sample_bytes) // 2, len(sample_bytes) - 2):
        cli.fails("calc", "-", input=sample_bytes[:cut], contains="invalid JSON at byte")
