# ask_library(NAME SOURCES... [DEPS targets...])
#   One static library per module folder; headers are included as "module/name.h".
function(ask_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC ask_options ${ARG_DEPS})
endfunction()

# ask_test(NAME SOURCES... [DEPS targets...])
#   A doctest executable whose test cases CTest discovers one by one.
function(ask_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${PROJECT_SOURCE_DIR}/tests/support/doctest_main.cpp ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ask_options doctest::doctest ${ARG_DEPS})
  target_compile_definitions(${name} PRIVATE
    ASK_SOURCE_DIR="${PROJECT_SOURCE_DIR}" ASK_BINARY_DIR="${PROJECT_BINARY_DIR}")
  doctest_discover_tests(${name} ADD_LABELS 0)
endfunction()
