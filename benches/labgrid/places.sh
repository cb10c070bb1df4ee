#!/bin/sh
# Create the place of lab 2, bench 1 at the coordinator and tag it, once (labgrid-client
# from `pip install 'hil[labgrid]'`). The exporter's name (-n) and group (`bench:` in
# exporter.yaml) make the match. Usage: sh benches/labgrid/places.sh [COORDINATOR]
set -eu
export LG_COORDINATOR="${1:-${LG_COORDINATOR:-lab-coordinator:20408}}"
place=lab2-bench1
labgrid-client -p "$place" create
labgrid-client -p "$place" add-match "lab2-bench1/bench/*"
labgrid-client -p "$place" set-tags model=spark lab=lab2
labgrid-client -p "$place" show
