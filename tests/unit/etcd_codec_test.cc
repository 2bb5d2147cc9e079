// The etcd backend's codecs, without an etcd: base64 as the v3 gateway speaks it, range ends for
// prefixes, and a group configuration's JSON (strict: a stored value that is not exactly one is
// Corruption naming the key, never a guess). The backend against a real etcd is in
// tests/integration/etcd_store_test.cc.
#include <gtest/gtest.h>

#include <string>

#include "cluster/etcd_client.h"
#include "cluster/etcd_store.h"

namespace txcoord::cluster {
namespace {

TEST(EtcdCodecTest, Base64RoundTripsEveryLengthAndByte) {
  EXPECT_EQ(EncodeBase64(""), "");
  EXPECT_EQ(EncodeBase64("f"), "Zg==");
  EXPECT_EQ(EncodeBase64("fo"), "Zm8=");
  EXPECT_EQ(EncodeBase64("foo"), "Zm9v");
  EXPECT_EQ(EncodeBase64("/txcoord/groups/coordinator"), "L3R4Y29vcmQvZ3JvdXBzL2Nvb3JkaW5hdG9y");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 7) {
    const std::string bytes = all.substr(0, n);
    Result<std::string> back = DecodeBase64(EncodeBase64(bytes));
    ASSERT_TRUE(back.ok()) << n << ": " << back.status().ToString();
    EXPECT_EQ(back.value(), bytes) << n;
  }
}

TEST(EtcdCodecTest, Base64DecodingIsStrict) {
  for (const char* bad : {"Zg=", "Zg", "Z===", "=Zg=", "Zg==Zg==", "Zm9v!A==", "Zh==", "Zm9=",
                          "Zg=A"}) {
    EXPECT_EQ(DecodeBase64(bad).status().code(), Status::Code::kCorruption) << bad;
  }
}

TEST(EtcdCodecTest, PrefixEndIsTheFirstKeyPastThePrefix) {
  EXPECT_EQ(PrefixEnd("/txcoord/groups/"), "/txcoord/groups0");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd(std::string("a\xff\xff", 3)), "b");
}

replication::GroupConfig Sample() {
  replication::GroupConfig c;
  c.version = 7;
  c.epoch = 9;
  c.primary = 2;
  c.members = {0, 1, 2};
  c.isr = {{1, 18446744073709551615ull}, {2, 42}};
  return c;
}

TEST(EtcdCodecTest, AGroupConfigurationRoundTripsThroughJson) {
  const replication::GroupConfig c = Sample();
  Result<replication::GroupConfig> back = GroupConfigFromJson(GroupConfigToJson(c), "k");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back.value(), c);
}

TEST(EtcdCodecTest, AStoredValueThatIsNotExactlyAConfigurationIsCorruption) {
  const std::string good = GroupConfigToJson(Sample());
  const auto error = [](const std::string& text) {
    Result<replication::GroupConfig> r = GroupConfigFromJson(text, "etcd key /txcoord/groups/g");
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << text;
    return r.status().message();
  };
  EXPECT_EQ(error("not json"), "etcd key /txcoord/groups/g: not a JSON object");
  EXPECT_EQ(error("[1]"), "etcd key /txcoord/groups/g: not a JSON object");
  EXPECT_EQ(error(R"({"version":1,"epoch":1,"primary":0,"members":[0]})"),
            "etcd key /txcoord/groups/g.isr: missing");
  EXPECT_EQ(error(R"({"version":1,"epoch":1,"primary":0,"members":[0],"isr":{"0":1},"x":1})"),
            "etcd key /txcoord/groups/g.x: unknown field");
  EXPECT_EQ(error(R"({"version":-1,"epoch":1,"primary":0,"members":[0],"isr":{"0":1}})"),
            "etcd key /txcoord/groups/g.version: expected a non-negative integer");
  EXPECT_EQ(error(R"({"version":"1","epoch":1,"primary":0,"members":[0],"isr":{"0":1}})"),
            "etcd key /txcoord/groups/g.version: expected a non-negative integer");
  EXPECT_EQ(error(R"({"version":1,"epoch":1.5,"primary":0,"members":[0],"isr":{"0":1}})"),
            "etcd key /txcoord/groups/g.epoch: expected a non-negative integer");
  EXPECT_EQ(error(R"({"version":1,"epoch":1,"primary":4294967296,"members":[0],"isr":{"0":1}})"),
            "etcd key /txcoord/groups/g.primary: out of range");
  EXPECT_EQ(error(R"({"version":1,"epoch":1,"primary":0,"members":[0],"isr":{"01":1}})"),
            "etcd key /txcoord/groups/g.isr: expected a replica id, found '01'");
  EXPECT_EQ(error(R"({"version":1,"epoch":1,"primary":0,"members":[0],"isr":{"-1":1}})"),
            "etcd key /txcoord/groups/g.isr: expected a replica id, found '-1'");
  // Well typed but not a configuration (Validate): the primary outside the ISR.
  EXPECT_EQ(error(R"({"version":1,"epoch":1,"primary":1,"members":[0,1],"isr":{"0":1}})"),
            "etcd key /txcoord/groups/g: primary: 1 is not in the isr");
  EXPECT_TRUE(GroupConfigFromJson(good, "k").ok());
}

}  // namespace
}  // namespace txcoord::cluster
