#pragma once
// Secrets, via libsodium: argon2id password hashes (crypto_pwhash_str: the salt and the cost
// parameters live in the hash string), random tokens, SHA-256 and constant-time comparison.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ms::server {

// Argon2id cost. Interactive: libsodium's recommendation for online logins (64 MiB, 2 passes);
// tests use the minimum so that hundreds of logins stay fast.
struct PasswordCost {
  unsigned long long ops = 2;
  std::size_t mem_bytes = 64u << 20;
  static PasswordCost interactive() { return {}; }
  static PasswordCost minimum() { return {1, 8u << 10}; }
};

Result<std::string> hash_password(std::string_view password, const PasswordCost& cost);
bool verify_password(std::string_view password, const std::string& hash);
// `bytes` random bytes as lowercase hex.
std::string random_hex(std::size_t bytes);
// A readable random password (letters and digits, no look-alikes).
std::string random_password(std::size_t length);
std::string sha256_hex(const void* data, std::size_t size);
inline std::string sha256_hex(std::string_view s) { return sha256_hex(s.data(), s.size()); }
// SHA-256 of a file's bytes, read in 1 MiB blocks (memory bounded whatever its size); empty on a
// read error (errno says which).
std::string sha256_file_hex(const std::string& path);
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace ms::server
