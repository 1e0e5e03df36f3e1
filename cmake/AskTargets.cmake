# ask_library(NAME SOURCES... [ALONE sources...] [DEPS targets...])
#   One static library per module folder; headers are included as "module/name.h".
# ask_test(NAME SOURCES... [ALONE sources...] [DEPS targets...])
#   A doctest executable whose test cases CTest discovers one by one.
#
# ALONE: sources that stay out of unity builds (-DCMAKE_UNITY_BUILD=ON, which
# scripts/test.sh uses to halve CI's compile time) because their file-local helpers share
# names with a neighbour's. They are compiled as usual in every build.

function(ask_alone_sources)
  if(ARGN)
    set_source_files_properties(${ARGN} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  endif()
endfunction()

function(ask_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;ALONE;DEPS" ${ARGN})
  ask_alone_sources(${ARG_ALONE})
  add_library(${name} STATIC ${ARG_SOURCES} ${ARG_ALONE})
  target_link_libraries(${name} PUBLIC ask_options ${ARG_DEPS})
endfunction()

function(ask_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;ALONE;DEPS" ${ARGN})
  ask_alone_sources(${ARG_ALONE})
  add_executable(${name} ${PROJECT_SOURCE_DIR}/tests/support/doctest_main.cpp ${ARG_SOURCES}
                         ${ARG_ALONE})
  target_link_libraries(${name} PRIVATE ask_options doctest::doctest ${ARG_DEPS})
  target_compile_definitions(${name} PRIVATE
    ASK_SOURCE_DIR="${PROJECT_SOURCE_DIR}" ASK_BINARY_DIR="${PROJECT_BINARY_DIR}")
  doctest_discover_tests(${name} ADD_LABELS 0)
endfunction()
