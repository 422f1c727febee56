#!/usr/bin/env bash
# `npm test`: the whole suite on the system's Prosody 0.12, then the integration suite again on Prosody 13
# (unpacked beside 0.12 by .ci/prosody13.sh; the Snikket-shaped test runs only there). Each run prints
# its own tap summary; the exit status is the first failure's.
cd "$(dirname "$0")/.."
npx tap "$@"
first=$?
.ci/prosody13.sh -- npx tap test/integration
second=$?
exit $((first != 0 ? first : second))
