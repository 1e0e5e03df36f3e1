# cmake --install BUILD --prefix PREFIX (README, docs/operations.md) puts:
#   bin/ask, bin/askd, bin/llm-sim
#   share/doc/ask/*.md                        the docs/ folder
#   share/man/man1/ask.1, askd.1              packaging/*.1.in
#   share/systemd/user/askd.service           packaging/askd.service.in; ExecStart names
#                                             PREFIX/bin/askd
#   share/bash-completion/completions/ask, share/zsh/site-functions/_ask,
#   share/fish/vendor_completions.d/ask.fish  printed by the built `ask completion SHELL`
# The prefix is known only at install time (--prefix overrides the configured one), so the
# man pages, the unit and the completions are made then: cmake/InstallGenerated.cmake.

include(GNUInstallDirs)

install(TARGETS ask askd llm-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md")

# What the install-time script needs from this configure run.
install(CODE "
  set(ASK_INSTALL_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(ASK_INSTALL_STAGING \"${PROJECT_BINARY_DIR}/install-staging\")
  set(ASK_INSTALL_VERSION \"${PROJECT_VERSION}\")
  set(ASK_INSTALL_ASK \"$<TARGET_FILE:ask>\")
  set(ASK_INSTALL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(ASK_INSTALL_DATADIR \"${CMAKE_INSTALL_DATADIR}\")
  set(ASK_INSTALL_MANDIR \"${CMAKE_INSTALL_MANDIR}\")
  set(ASK_INSTALL_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/InstallGenerated.cmake)

if(ASK_BUILD_TESTS)
  # Installs into a temporary prefix and checks every file (tests/install/install_test.sh).
  add_test(NAME install_test
           COMMAND ${CMAKE_COMMAND} -E env CMAKE=${CMAKE_COMMAND}
                   bash ${PROJECT_SOURCE_DIR}/tests/install/install_test.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(install_test PROPERTIES LABELS install TIMEOUT 120)
endif()
