#include "proxy/cli.h"

int main(int argc, char** argv) {
  return ask::proxy::askd_main(argc, argv);
}
