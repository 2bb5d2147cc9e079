// TempDir: a fresh directory under the system temp dir, removed with everything in it when the
// object goes out of scope. For tests that open real RocksDB databases.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "common/check.h"

namespace txcoord::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "txcoord-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    TXC_CHECK(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace txcoord::testing
