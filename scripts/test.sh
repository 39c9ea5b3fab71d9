#!/usr/bin/env bash
# The test command (README): builds and runs every test. Placeholder until the setup lands.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test 2>&1
