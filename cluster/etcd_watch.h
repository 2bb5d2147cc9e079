// A watch of every key under a prefix, through the v3 JSON gateway's streaming /v3/watch (one
// long-lived HTTP/1.1 POST whose chunked answer carries newline-delimited JSON messages): etcd
// pushes each put as it happens, so a node hears of a configuration change at once without
// polling etcd for it. Polling every 50 ms from every node cost etcd a tenth of this 2-core
// machine and the cluster 15% of its throughput (bench/etcd_steady.sh); with the watch, the nodes'
// reads of etcd are a slow backstop (cluster/etcd_store.h).
//
// It runs on a thread of its own and calls `on_put` there, for each put in order (deletes are
// not reported). A watch that fails (the member dies, closes the stream, or answers an error) is
// made again on the next endpoint after a short pause, from the revision after the last put it
// reported, so nothing is missed while etcd keeps that history (a compacted revision starts it
// from the current one). A member cut off from its majority sends nothing new; the backstop read
// (linearizable, elsewhere) keeps the node right meanwhile.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/etcd_client.h"

namespace txcoord::cluster {

class EtcdWatch {
 public:
  using OnPut = std::function<void(const EtcdKv& kv)>;
  // REQUIRES: options.endpoints non-empty, prefix non-empty.
  EtcdWatch(EtcdClientOptions options, std::string prefix, OnPut on_put);
  ~EtcdWatch();  // Stop()
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  // Starts the thread (once).
  void Start();
  // Ends the watch and joins the thread; no on_put runs after it returns.
  void Stop();

  // Puts reported so far, and watches made (etcd answered the request; the first and each one
  // made again): for tests.
  uint64_t puts() const { return puts_.load(); }
  uint64_t watches() const { return watches_.load(); }

 private:
  struct Loop;
  void Run();

  EtcdClientOptions options_;
  std::string prefix_;
  OnPut on_put_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> puts_{0};
  std::atomic<uint64_t> watches_{0};  // made: answered 200 with the stream's header
  uint64_t failures_ = 0;             // failed attempts (the thread's own: logged every 50th)
};

}  // namespace txcoord::cluster
