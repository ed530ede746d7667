#include "cli/app.h"

int main(int argc, char** argv) { return ms::cli::run(argc, argv); }
