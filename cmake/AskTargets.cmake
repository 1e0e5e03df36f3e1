# ask_library(NAME SOURCES... [DEPS targets...])
#   One static library per module folder; headers are included as "module/name.h".
# ask_test(NAME SOURCES... [DEPS targets...] [LABELS label])
#   A doctest executable whose test cases CTest discovers one by one, each with the CTest
#   label given; the target LABEL_tests builds every executable with that label. Label
#   `threads`: the executable tests code that runs on several threads (or spawns askd /
#   llm-sim, which do); scripts/test.sh --tsan builds threads_tests under ThreadSanitizer
#   and runs ctest -L threads.
#
# CI builds with -DCMAKE_UNITY_BUILD=ON (16 sources per compiler run), so the sources of one
# target share translation units: file-local names (anonymous namespaces, statics, global
# using-declarations in tests) must not collide across a target's files, whichever batch
# they fall in. Put what files share in a header; give what is file-local a specific name.

function(ask_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC ask_options ${ARG_DEPS})
endfunction()

function(ask_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${PROJECT_SOURCE_DIR}/tests/support/doctest_main.cpp ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ask_options doctest::doctest ${ARG_DEPS})
  target_compile_definitions(${name} PRIVATE
    ASK_SOURCE_DIR="${PROJECT_SOURCE_DIR}" ASK_BINARY_DIR="${PROJECT_BINARY_DIR}")
  set(properties)
  if(ARG_LABELS)
    set(properties PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  doctest_discover_tests(${name} ADD_LABELS 0 ${properties})
  foreach(label IN LISTS ARG_LABELS)
    if(NOT TARGET ${label}_tests)
      add_custom_target(${label}_tests)
    endif()
    add_dependencies(${label}_tests ${name})
  endforeach()
endfunction()
