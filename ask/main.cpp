#include "ask/app.h"

int main(int argc, char** argv) {
  return ask::cli::ask_main(argc, argv);
}
