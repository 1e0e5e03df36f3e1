# Compile options shared by every target of the project, carried by the interface
# target `ask_options` that each library and executable links.
add_library(ask_options INTERFACE)
target_compile_options(ask_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                             -Wnon-virtual-dtor -Wold-style-cast)
target_compile_definitions(ask_options INTERFACE $<$<CONFIG:Debug>:_GLIBCXX_ASSERTIONS>)
if(ASK_WERROR)
  target_compile_options(ask_options INTERFACE -Werror)
endif()
if(ASK_SANITIZE AND ASK_TSAN)
  message(FATAL_ERROR "ASK_SANITIZE and ASK_TSAN cannot be combined")
endif()
if(ASK_SANITIZE)
  target_compile_options(ask_options INTERFACE -fsanitize=address,undefined
                                               -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(ask_options INTERFACE -fsanitize=address,undefined)
endif()
if(ASK_TSAN)
  target_compile_options(ask_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(ask_options INTERFACE -fsanitize=thread)
endif()
target_include_directories(ask_options INTERFACE ${PROJECT_SOURCE_DIR})
