#pragma once
// A counting semaphore for image decoding (C++17 has none): at most `slots` holders at once, the
// others wait their turn. Decoding is where a request turns a few compressed bytes into many
// megabytes of pixels, so bounding how many decode at once bounds that memory for the process.
#include <condition_variable>
#include <mutex>

namespace ms::server {

class DecodeSlots {
 public:
  explicit DecodeSlots(int slots) : free_(slots) {}
  DecodeSlots(const DecodeSlots&) = delete;
  DecodeSlots& operator=(const DecodeSlots&) = delete;

  void acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return free_ > 0; });
    --free_;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

  // Holds one slot for its lifetime.
  class Hold {
   public:
    explicit Hold(DecodeSlots& s) : slots_(s) { slots_.acquire(); }
    ~Hold() { slots_.release(); }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    DecodeSlots& slots_;
  };

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
};

}  // namespace ms::server
