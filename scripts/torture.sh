#!/usr/bin/env bash
# The link torture's long version: the timing scenarios, repeated, on a WiFi-like virtual
# bench (tc netem) at time scale 10 and 1, and on the simulated rig under stress-ng
# (harness/tests/link_torture.rs says what and why). Root, iproute2 and stress-ng; about
# 25 minutes. Prints a line per run and a table of runs, failures and skips per condition.
set -euo pipefail
cd "$(dirname "$0")/.."
PLUGRIG_TORTURE=long exec cargo test -p plugrig --test link_torture -- --nocapture "$@"
