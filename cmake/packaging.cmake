# Install layout and Debian package (CPack), included at the end of the top-level CMakeLists.txt.
#
#   cmake -S . -B build -G Ninja -DCMAKE_INSTALL_PREFIX=/usr && cmake --build build -j2
#   cmake --install build --prefix /usr            # or: DESTDIR=/tmp/root cmake --install build
#   cpack --config build/CPackConfig.cmake -B out  # out/stream4flow_<version>_<arch>.deb
#
# Layout (prefix /usr):
#   /usr/bin/s4f-{collector,worker,sink,web}
#   /etc/stream4flow/stream4flow.yml          every option, commented (generated from the tables)
#   /etc/stream4flow/worker-<analysis>.env    metrics port of each s4f-worker@<analysis>
#   /usr/lib/systemd/system/                   units and stream4flow.target
#   /usr/lib/sysusers.d/stream4flow.conf       the system user the units run as
#   /usr/share/stream4flow/{elements,schemas,kibana,prometheus}/
#   /usr/share/man/man8/s4f-*.8, man5/stream4flow.yml.5 (generated from the tables)
#   /usr/share/doc/stream4flow/
#
# The binaries are compiled for one prefix (the collector's default element file path names
# it), so the package installs exactly where CMAKE_INSTALL_PREFIX says; Debian packages want
# -DCMAKE_INSTALL_PREFIX=/usr. The configuration goes to GNUInstallDirs' sysconfdir, which is
# /etc for the /usr prefix; units and maintainer scripts are rewritten for other prefixes.
include(GNUInstallDirs)

set(S4F_CONF_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/stream4flow)
set(S4F_GEN_DIR ${PROJECT_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${S4F_GEN_DIR})
find_package(Python3 COMPONENTS Interpreter)

# Copies a source file into the build tree with the /usr/bin and /etc/stream4flow paths it is
# written for replaced by this build's (the files stay usable as they are for prefix /usr).
function(s4f_prefixed_copy src dst)
  file(READ ${src} text)
  string(REPLACE "/usr/bin/" "${CMAKE_INSTALL_FULL_BINDIR}/" text "${text}")
  string(REPLACE "/etc/stream4flow" "${S4F_CONF_DIR}" text "${text}")
  file(WRITE ${dst} "${text}")
  set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
endfunction()

# ---- generated configuration and man pages -----------------------------------------------
# Only when every daemon is part of the build: the file must hold every section.
set(S4F_DAEMON_TARGETS s4f-collector s4f-worker s4f-sink s4f-web s4f-alert)
set(S4F_ALL_DAEMONS ON)
foreach(t ${S4F_DAEMON_TARGETS})
  if(NOT TARGET ${t})
    set(S4F_ALL_DAEMONS OFF)
  endif()
endforeach()

if(S4F_ALL_DAEMONS AND Python3_FOUND)
  set(S4F_GEN ${PROJECT_SOURCE_DIR}/provisioning/gen_config.py)
  set(S4F_DAEMON_FILES)
  foreach(t ${S4F_DAEMON_TARGETS})
    list(APPEND S4F_DAEMON_FILES $<TARGET_FILE:${t}>)
  endforeach()
  # The binaries run at build time: a sanitizer build must not fail on an exit-time report.
  set(S4F_RUN ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0 ${Python3_EXECUTABLE}
      ${S4F_GEN})
  set(S4F_MAN_PAGES)
  foreach(t ${S4F_DAEMON_TARGETS})
    list(APPEND S4F_MAN_PAGES ${S4F_GEN_DIR}/man/${t}.8)
  endforeach()
  add_custom_command(
    OUTPUT ${S4F_GEN_DIR}/stream4flow.yml
    COMMAND ${S4F_RUN} config --out ${S4F_GEN_DIR}/stream4flow.yml ${S4F_DAEMON_FILES}
    DEPENDS ${S4F_DAEMON_TARGETS} ${S4F_GEN}
    COMMENT "Generating the commented stream4flow.yml from the option tables"
    VERBATIM)
  add_custom_command(
    OUTPUT ${S4F_MAN_PAGES} ${S4F_GEN_DIR}/man/stream4flow.yml.5
    COMMAND ${S4F_RUN} man --version ${PROJECT_VERSION} --outdir ${S4F_GEN_DIR}/man
            ${S4F_DAEMON_FILES}
    DEPENDS ${S4F_DAEMON_TARGETS} ${S4F_GEN}
    COMMENT "Generating man pages from the option tables"
    VERBATIM)
  add_custom_target(s4f_generated_docs ALL
    DEPENDS ${S4F_GEN_DIR}/stream4flow.yml ${S4F_MAN_PAGES} ${S4F_GEN_DIR}/man/stream4flow.yml.5)
  install(FILES ${S4F_GEN_DIR}/stream4flow.yml DESTINATION ${S4F_CONF_DIR})
  install(FILES ${S4F_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
  install(FILES ${S4F_GEN_DIR}/man/stream4flow.yml.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
else()
  message(STATUS "stream4flow.yml and man pages not generated: needs python3 and all four "
                 "daemons in the build")
endif()

# ---- systemd units, user, worker environment files ------------------------------------------
set(S4F_SYSTEMD_SRC ${PROJECT_SOURCE_DIR}/provisioning/systemd)
set(S4F_UNITS s4f-collector.service s4f-worker@.service s4f-sink.service s4f-web.service
    s4f-alert.service
    stream4flow.target)
foreach(u ${S4F_UNITS})
  s4f_prefixed_copy(${S4F_SYSTEMD_SRC}/${u} ${S4F_GEN_DIR}/units/${u})
  install(FILES ${S4F_GEN_DIR}/units/${u} DESTINATION lib/systemd/system)
endforeach()
# lib/, not LIBDIR: on Debian LIBDIR is multiarch (lib/x86_64-linux-gnu), where systemd does
# not look.
install(FILES ${S4F_SYSTEMD_SRC}/stream4flow.sysusers DESTINATION lib/sysusers.d
        RENAME stream4flow.conf)
file(GLOB S4F_WORKER_ENVS ${S4F_SYSTEMD_SRC}/worker-*.env)
install(FILES ${S4F_WORKER_ENVS} DESTINATION ${S4F_CONF_DIR})

# ---- shared data and documentation ----------------------------------------------------------
# (The IE definitions, share/stream4flow/elements/, are installed by collector/decode.)
file(GLOB S4F_SCHEMAS ${PROJECT_SOURCE_DIR}/docs/*.schema.json
     ${PROJECT_SOURCE_DIR}/docs/schemas/*.json)
if(S4F_SCHEMAS)
  install(FILES ${S4F_SCHEMAS} DESTINATION ${CMAKE_INSTALL_DATADIR}/stream4flow/schemas)
endif()
if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/provisioning/kibana)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/provisioning/kibana/
          DESTINATION ${CMAKE_INSTALL_DATADIR}/stream4flow/kibana)
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/provisioning/prometheus/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/stream4flow/prometheus)
# Example rule files (docs/rules.md) and the pattern_finder configurations
# (docs/pattern_finder.md), referred to by path from the worker's configuration.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/workers/rules/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/stream4flow/rules)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/workers/pattern_finder/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/stream4flow/pattern_finder)
file(GLOB S4F_DOCS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${S4F_DOCS} ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- Debian package --------------------------------------------------------------------------
set(S4F_DEB_DIR ${S4F_GEN_DIR}/deb)
foreach(s postinst prerm postrm)
  s4f_prefixed_copy(${S4F_SYSTEMD_SRC}/deb/${s} ${S4F_DEB_DIR}/${s})
  file(CHMOD ${S4F_DEB_DIR}/${s} PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
       GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
# Files under /etc are the operator's: dpkg keeps their edits on upgrade (conffiles).
set(S4F_CONFFILES "${S4F_CONF_DIR}/stream4flow.yml\n")
foreach(f ${S4F_WORKER_ENVS})
  get_filename_component(n ${f} NAME)
  string(APPEND S4F_CONFFILES "${S4F_CONF_DIR}/${n}\n")
endforeach()
file(WRITE ${S4F_DEB_DIR}/conffiles "${S4F_CONFFILES}")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stream4flow)
set(CPACK_PACKAGE_VENDOR "Stream4Flow")
set(CPACK_PACKAGE_CONTACT "Stream4Flow maintainers <stream4flow@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Real-time IP flow analysis: NetFlow/IPFIX collector, Kafka workers, Elasticsearch sink, dashboard")
set(CPACK_PACKAGE_DESCRIPTION "Stream4Flow collects NetFlow v5/v9 and IPFIX, publishes flat JSON flow records to Kafka, runs windowed analyses (protocol statistics, port scans, host profiles) and indexes the results into Elasticsearch for Kibana and its own dashboard.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/CSIRT-MU/Stream4Flow")
# The runtime libraries by name (Debian 12); dpkg-shlibdeps adds the exact versions.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "librdkafka1, libfixbuf9, libmaxminddb0, libjansson4, libcurl4, libmicrohttpd12, libyaml-0-2, zlib1g, libcrypt1, adduser")
find_program(S4F_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(S4F_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${S4F_DEB_DIR}/postinst ${S4F_DEB_DIR}/prerm ${S4F_DEB_DIR}/postrm ${S4F_DEB_DIR}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
