"""`maplexp starforce`, `maplexp cube`, `maplexp tables`, help and version: goldens of valuation
spec 8.7-8.9, the range rules of 10.E, Monte Carlo determinism and accuracy, and precise errors."""
import re

import pytest

from conftest import ROOT


def test_version_and_help(cli):
    """--version prints the version; --help lists every subcommand; each subcommand documents every flag."""
    v = cli.run("--version")
    assert v.returncode == 0 and re.fullmatch(r"maplexp \d+\.\d+\.\d+\n", v.stdout_text)
    overview = cli.run("--help").stdout_text
    for cmd in ("calc", "starforce", "cube", "tables", "help"):
        assert f"  {cmd}" in overview
    flags = {
        "calc": ["--class", "--preset", "--json", "--tables", "--ign", "--calculated-at"],
        "starforce": ["--level", "--from", "--to", "--no-star-catch", "--no-sunday", "--no-discount", "--prevent",
                      "--scroll", "--json"],
        "cube": ["--level", "--part", "--grade", "--lines", "--type", "--json", "--tables"],
        "tables": ["--tables", "--summary"],
    }
    for cmd, names in flags.items():
        via_help = cli.run("help", cmd)
        via_flag = cli.run(cmd, "--help")
        assert via_help.returncode == 0 and via_flag.returncode == 0
        assert via_help.stdout_text == via_flag.stdout_text
        for flag in names:
            assert flag in via_help.stdout_text, (cmd, flag)
    cli.fails("help", "nope", contains="unknown command")
    cli.fails("frobnicate", contains="unknown command")
    assert cli.run().returncode == 2


def test_starforce_golden(cli):
    """8.8: L200 0→22 with the default options; 10.E1: 15→22."""
    r = cli.json("starforce", "--level", "200", "--from", "0", "--to", "22", "--json")
    assert (r["status"], r["expectedCost"], r["expectedDestroyCount"]) == ("OK", 16169451106, 3.87)
    assert r["expectedCostText"] == "161억 6945만"
    assert (r["to"], r["requestedTo"]) == (22, 22)
    r = cli.json("starforce", "--level", "200", "--from", "15", "--to", "22", "--json")
    assert r["expectedCost"] == 15681410075
    r = cli.json("starforce", "--level", "200", "--to", "22", "--prevent", "--json")
    assert (r["expectedCost"], r["expectedDestroyCount"]) == (21503968049, 2.43)
    r = cli.json("starforce", "--level", "200", "--to", "22", "--no-star-catch", "--no-sunday", "--no-discount",
                 "--json")
    assert (r["expectedCost"], r["expectedDestroyCount"]) == (36404721571, 8.46)


def test_starforce_scroll_golden(cli):
    """8.9 / 10.E2: the 놀장 model, L150 0→15 and L140 0→12."""
    r = cli.json("starforce", "--level", "150", "--to", "15", "--scroll", "--json")
    assert (r["expectedCost"], r["expectedDestroyCount"]) == (10002457337, 0.0)
    r = cli.json("starforce", "--level", "140", "--to", "12", "--scroll", "--json")
    assert r["expectedCost"] == 5799007577


def test_starforce_cap_and_range_errors(cli):
    """10.E3: --to is capped at the level's maximum star; out-of-range stars are input errors."""
    r = cli.json("starforce", "--level", "100", "--to", "22", "--json")
    assert (r["requestedTo"], r["to"], r["expectedCost"]) == (22, 8, 896859)
    text = cli.run("starforce", "--level", "100", "--to", "22").stdout_text
    assert "requested 22★" in text and "8★" in text
    cli.fails("starforce", "--level", "200", "--to", "31", contains="above 30")
    cli.fails("starforce", "--level", "200", "--to", "16", "--scroll", contains="above 15")
    cli.fails("starforce", "--level", "200", "--from", "-1", "--to", "5", contains="negative")
    cli.fails("starforce", "--level", "200", "--from", "10", "--to", "5", contains="below --from")
    cli.fails("starforce", "--level", "100", "--from", "10", "--to", "15", contains="maximum for level 100")
    cli.fails("starforce", "--level", "abc", "--to", "5", contains="--level must be an integer")
    cli.fails("starforce", "--level", "301", "--to", "5", contains="--level must be an integer")
    cli.fails("starforce", "--to", "5", contains="required")
    cli.fails("starforce", "--level", "200", "--to", "10", "--scroll", "--prevent", contains="--scroll")


def test_starforce_percentiles_deterministic_and_accurate(cli):
    """10.E6: seed 1, 200,000 runs; same output twice; sample mean within 1% of the exact expectation."""
    a = cli.json("starforce", "--level", "200", "--to", "22", "--json")
    b = cli.json("starforce", "--level", "200", "--to", "22", "--json")
    assert a == b
    assert (a["percentileMethod"], a["runs"], a["seed"]) == ("monte-carlo", 200000, 1)
    assert a["p50Cost"] <= a["p90Cost"] <= a["p99Cost"]
    assert a["p50Cost"] % 100 == 0
    assert abs(a["sampleMeanCost"] - a["expectedCost"]) <= 0.01 * a["expectedCost"]
    assert abs(a["sampleMeanDestroyCount"] - 3.87) <= 0.01 * 3.87 + 0.005


def test_starforce_deep_target_does_not_hang(cli):
    """0→30 at level 200: the exact expectation is printed; percentiles are reported unavailable, quickly."""
    r = cli.json("starforce", "--level", "200", "--to", "30", "--json")
    assert r["status"] == "OK" and r["expectedCost"] > 0
    if r["p50Cost"] is None:
        assert r["percentileReason"]


CUBE_ROWS = [
    # 8.7: part, level, grade, lines, target, min, p, trials, p50/p90/p99, cost, tableLevel
    ("모자", 200, "레전드리", "STR +12%|STR +9%|STR +9%", "STR_PERCENT", 30, 0.0017942210544083922, 557,
     (386, 1283, 2565), 25065000000, 200),
    ("귀고리", 200, "레전드리", "INT +12%|INT +12%|INT +9%", "INT_PERCENT", 33, 0.0003374937403398453, 2963,
     (2054, 6822, 13643), 133335000000, 200),
    ("장갑", 200, "레전드리", "크리티컬 데미지 +8%|최대 HP +9%|크리티컬 데미지 +8%", "CRITICAL_DAMAGE", 16,
     0.0030134347481722166, 332, (230, 763, 1526), 14940000000, 110),
    ("눈장식", 145, "레전드리", "아이템 드롭률 +20%|아이템 드롭률 +20%|최대 MP +9%", "ITEM_DROP", 40,
     0.0015293736629635951, 654, (453, 1505, 3009), 26160000000, 140),
]


@pytest.mark.parametrize("row", CUBE_ROWS, ids=[r[0] for r in CUBE_ROWS])
def test_cube_golden(cli, row):
    """8.7 through the CLI: target, probability, trials, percentiles, cost and table level."""
    part, level, grade, lines, target, mn, p, trials, pct, cost, tlevel = row
    r = cli.json("cube", "--level", level, "--part", part, "--grade", grade, "--lines", lines, "--json",
                 "--tables", ROOT / "data" / "cube_probability.csv")
    c = r["cube"]
    assert (c["status"], c["method"], c["targetStat"], c["minTotal"]) == ("OK", "THRESHOLD", target, mn)
    assert c["successProbability"] == pytest.approx(p, rel=1e-12)
    assert (c["expectedTrials"], (c["p50Trials"], c["p90Trials"], c["p99Trials"])) == (trials, pct)
    assert (c["expectedCost"], c["tableLevel"]) == (cost, tlevel)
    assert r["diagnostics"]["lookedUpTableLevel"] == tlevel


def test_cube_exact_match_and_padding(cli):
    """8.6 through the CLI (renormalised exact match: 861,537 trials); 10.E4: lines padded with blanks."""
    r = cli.json("cube", "--level", "250", "--part", "모자", "--grade", "레전드리", "--json",
                 "--lines", "스킬 재사용 대기시간 -2초 | 스킬 재사용 대기시간 -2초|스킬 재사용 대기시간 -2초")
    c = r["cube"]
    assert (c["method"], c["expectedTrials"], c["expectedCost"]) == ("EXACT_MATCH", 861537, 43076850000000)
    r = cli.json("cube", "--level", "200", "--part", "모자", "--grade", "레전드리", "--lines", "STR +12%", "--json")
    assert r["cube"]["potential"] == "STR +12%"
    assert r["cube"]["status"] == "OK"


def test_cube_additional_and_diagnostics_on_failure(cli):
    """--type additional uses the ADDITIONAL table; a NO_TABLE answer still shows what was looked at."""
    r = cli.json("cube", "--level", "250", "--part", "모자", "--grade", "레전드리", "--type", "additional",
                 "--lines", "INT +10%|INT +7%|INT +7%", "--json")
    assert r["cube"]["cubeType"] == "ADDITIONAL" and r["cube"]["tableLevel"] == 201
    r = cli.json("cube", "--level", "250", "--part", "모자", "--grade", "레전드리", "--type", "additional",
                 "--lines", "INT +10%", "--json", "--tables", ROOT / "data" / "cube_probability.csv")
    assert r["cube"]["status"] == "NO_TABLE"
    assert r["diagnostics"]["lookedUpTableLevel"] is None
    text = cli.run("cube", "--level", "200", "--part", "귀고리", "--grade", "레전드리", "--lines",
                   "INT +12%|INT +12%|INT +9%").stdout_text
    assert "Expected trials: 2963" in text and "Table level: 200" in text


def test_cube_errors(cli):
    """E5: unknown part or grade, bad level, too many lines → exit 2 with one line."""
    base = ["cube", "--level", "200", "--lines", "STR +12%"]
    cli.fails(*base, "--part", "훈장", "--grade", "레전드리", contains="unknown part")
    cli.fails(*base, "--part", "모자", "--grade", "Legendary", contains="unknown grade")
    cli.fails("cube", "--level", "-5", "--part", "모자", "--grade", "레어", "--lines", "x", contains="--level")
    cli.fails("cube", "--level", "200", "--part", "모자", "--grade", "레어", "--lines", "a|b|c|d",
              contains="more than three")
    cli.fails("cube", "--level", "200", "--part", "모자", "--grade", "레어", "--lines", "a", "--type", "red",
              contains="--type")
    cli.fails("cube", "--part", "모자", contains="required")


def test_tables_report(cli, tmp_path):
    """`tables`: loads both shipped files and reports the renormalised groups once; bad files name FILE:LINE."""
    r = cli.run("tables", "--summary")
    assert r.returncode == 0, r.stderr_text
    m = re.search(r"(\d+) rows loaded; (\d+) groups with mass != 1", r.stdout_text)
    assert m and int(m.group(1)) == 34488 + 102034 and int(m.group(2)) > 0
    full = cli.run("tables")
    assert len(full.stdout_text.splitlines()) == int(m.group(2)) + 1
    bad = tmp_path / "t.csv"
    bad.write_text("option,rate,slot,potential_option_grade,base_equipment_level,item_equipment_slot,cube_type\n"
                   "STR +12%,0.1,1,레전드리,200,모자,BLACK\nSTR +9%,0.1,4,레전드리,200,모자,BLACK\n")
    cli.fails("tables", "--tables", bad, contains=":3:")


def test_config_doc_matches_serve_help(cli):
    """docs/config.md is generated from the settings table (`make docs`): it must list exactly what
    `maplexp serve --help` prints, so the documentation cannot drift from the code."""
    proc = cli.run("serve", "--help")
    assert proc.returncode == 0, proc.stderr_text
    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    block = doc.split("```\n", 1)[1].rsplit("```", 1)[0]
    assert block == proc.stdout_text
