#include <cstdio>

int main() {
  std::puts("amber-img: not yet implemented");
  return 1;
}
