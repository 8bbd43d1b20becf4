// e4m3 from its definition (OCP 8-bit floating point, E4M3: bias 7, exponent 0 subnormal, no
// infinities; S.1111.111 is NaN), apart from the code the 4-bit tests check. Plain C++, for the
// host tests and the nvcc-compiled ones alike.
#pragma once
#include <cmath>
#include <cstdint>

namespace test {

inline double e4m3_value(uint8_t b) {
  const int e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return NAN;
  const double mag = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return (b & 0x80) ? -mag : mag;
}

}  // namespace test
