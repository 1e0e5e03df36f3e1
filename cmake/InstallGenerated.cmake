# Runs at install time (install(SCRIPT) in cmake/Install.cmake), once CMAKE_INSTALL_PREFIX is
# the --prefix given: configures the man pages and the systemd unit with the installed paths
# and writes the completion scripts, in the build dir (ASK_INSTALL_STAGING), then installs
# them. file(INSTALL) honours DESTDIR and records each file in install_manifest.txt.

set(prefix "${CMAKE_INSTALL_PREFIX}")
if(NOT IS_ABSOLUTE "${prefix}")
  get_filename_component(prefix "${prefix}" ABSOLUTE)
endif()

# The values packaging/*.in name.
set(ASK_VERSION "${ASK_INSTALL_VERSION}")
set(ASK_DOCDIR "${prefix}/${ASK_INSTALL_DOCDIR}")
set(ASK_UNITDIR "${prefix}/${ASK_INSTALL_DATADIR}/systemd/user")
# ExecStart: systemd reads % as a specifier and $ as a variable; a path with a blank, a quote
# or a backslash goes in double quotes.
set(askd "${prefix}/${ASK_INSTALL_BINDIR}/askd")
string(REPLACE "%" "%%" askd "${askd}")
string(REPLACE "$" "$$" askd "${askd}")
if(askd MATCHES "[ \t\"\\]")
  string(REPLACE "\\" "\\\\" askd "${askd}")
  string(REPLACE "\"" "\\\"" askd "${askd}")
  set(askd "\"${askd}\"")
endif()
set(ASKD_EXEC "${askd}")
# Documentation=file://...: the docs folder as a URL (percent-encoded), then % doubled.
set(url "${ASK_DOCDIR}")
string(REPLACE "%" "%25" url "${url}")
string(REPLACE " " "%20" url "${url}")
string(REPLACE "%" "%%" url "${url}")
set(ASK_DOC_URL "file://${url}")

foreach(file ask.1 askd.1 askd.service)
  configure_file("${ASK_INSTALL_SOURCE_DIR}/packaging/${file}.in"
                 "${ASK_INSTALL_STAGING}/${file}" @ONLY)
endforeach()
file(INSTALL "${ASK_INSTALL_STAGING}/ask.1" "${ASK_INSTALL_STAGING}/askd.1"
     DESTINATION "${CMAKE_INSTALL_PREFIX}/${ASK_INSTALL_MANDIR}/man1")
file(INSTALL "${ASK_INSTALL_STAGING}/askd.service"
     DESTINATION "${CMAKE_INSTALL_PREFIX}/${ASK_INSTALL_DATADIR}/systemd/user")

# The completion scripts, from the built ask itself (its parser and the tiers and models of
# the config it finds: ask/completion.h). An ask that cannot print one (one without
# `ask completion`, or a failure) leaves it out with a message rather than failing the
# install. Standard input is /dev/null and askd's address a closed port, so an ask that took
# the words for a prompt neither waits nor asks anyone.
foreach(entry "bash:bash-completion/completions/ask" "zsh:zsh/site-functions/_ask"
              "fish:fish/vendor_completions.d/ask.fish")
  string(REPLACE ":" ";" entry "${entry}")
  list(GET entry 0 shell)
  list(GET entry 1 path)
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -E env ASK_URL=http://127.0.0.1:9 "${ASK_INSTALL_ASK}"
            completion ${shell}
    INPUT_FILE /dev/null OUTPUT_VARIABLE script ERROR_QUIET RESULT_VARIABLE rc TIMEOUT 30)
  if(NOT rc EQUAL 0 OR NOT script MATCHES "^(# ${shell} completion for ask|#compdef ask)")
    message(STATUS "Not installed: the ${shell} completion (`ask completion ${shell}` failed)")
    continue()
  endif()
  file(WRITE "${ASK_INSTALL_STAGING}/completions/${path}" "${script}")
  get_filename_component(dir "${CMAKE_INSTALL_PREFIX}/${ASK_INSTALL_DATADIR}/${path}" DIRECTORY)
  file(INSTALL "${ASK_INSTALL_STAGING}/completions/${path}" DESTINATION "${dir}")
endforeach()
