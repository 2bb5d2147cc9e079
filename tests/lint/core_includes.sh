#!/usr/bin/env bash
# The pure cores include no I/O, threads or clocks (DESIGN.md section 2, STYLE.md 1 and 3): their
# CMake targets link only the standard library and common/, and this check reads their includes,
# which the link check cannot see (every header of the repo is on the include path).
#
#   tests/lint/core_includes.sh SOURCE_DIR     # exit 1 and the offending lines on a violation
set -euo pipefail
src="${1:?usage: core_includes.sh SOURCE_DIR}"
cores=(coordinator/core participant/core recovery/core replication/core)
runner=(node/core_runner.h node/core_runner.cc node/group_node.h node/group_node.cc)
forbidden='#include *[<"](boost/|thrift/|rocksdb/|yaml-cpp/|asio|thread>|mutex>|condition_variable>|future>|chrono>|random>|fstream>|sys/|unistd)|#include *"(rpc|wal|idl|cluster|tools|client|bench)/|chrono::[a-z_]+_clock::now|std::rand|random_device|time\(nullptr\)'
files=()
for d in "${cores[@]}"; do
  while IFS= read -r f; do files+=("$f"); done < <(find "$src/$d" -name '*.h' -o -name '*.cc')
done
for f in "${runner[@]}"; do files+=("$src/$f"); done
if hits=$(grep -nE "$forbidden" "${files[@]}"); then
  echo "a pure core reaches for I/O, threads, clocks or a driver's module:"
  echo "$hits"
  exit 1
fi
echo "core includes: ${#files[@]} files pure"
