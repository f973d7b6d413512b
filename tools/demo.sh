#!/usr/bin/env bash
# `make run`: the demo. Until the HTTP service lands (issue 3) the demo is the offline engine:
# value the shipped sample character and show a starforce and a cube query.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/release/maplexp
echo "== maplexp calc tests/data/evan_equip.json   (a real Nexon payload, class 에반)"
"$BIN" calc tests/data/evan_equip.json
echo
echo "== maplexp starforce --level 200 --to 22"
"$BIN" starforce --level 200 --to 22
echo
echo "== maplexp cube --level 200 --part 귀고리 --grade 레전드리 --lines 'INT +12%|INT +12%|INT +9%'"
"$BIN" cube --level 200 --part 귀고리 --grade 레전드리 --lines 'INT +12%|INT +12%|INT +9%'
echo
echo "Try: $BIN calc tests/data/evan_equip.json --json | less   ·   $BIN --help"
