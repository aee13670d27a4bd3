# Installs the systemd units and the example configuration with the paths of
# this installation written in. Run by `cmake --install` (install(SCRIPT) in
# the top-level CMakeLists.txt), so CMAKE_INSTALL_PREFIX is the prefix given
# at install time (--prefix), not only the one configured. The caller sets
# CAIRN_SOURCE_DIR and the GNUInstallDirs values CAIRN_BINDIR,
# CAIRN_SYSCONFDIR and CAIRN_DOCDIR (relative to the prefix, or absolute).
#
# Where things go, for prefix P (GNUInstallDirs' rules for etc):
#   P/bin/cairn, P/bin/cairn-gc, P/bin/cairn-fsck        (the targets)
#   P/lib/systemd/system/cairn.service, cairn-gc.{service,timer}
#   <etc>/cairn/config.yml.example, and <etc>/cairn/config.yml when absent
#   where <etc> is /etc for P = / or /usr, /etc/opt/... for P = /opt/...,
#   else P/etc.
# DESTDIR is honoured as by every other install rule.

set(prefix "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "(.)/+$" "\\1" prefix "${prefix}")

function(cairn_full_directory relative out)
  if(IS_ABSOLUTE "${relative}")
    set(${out} "${relative}" PARENT_SCOPE)
  elseif(prefix STREQUAL "/")
    set(${out} "/${relative}" PARENT_SCOPE)
  else()
    set(${out} "${prefix}/${relative}" PARENT_SCOPE)
  endif()
endfunction()

cairn_full_directory("${CAIRN_BINDIR}" bindir)
cairn_full_directory("${CAIRN_DOCDIR}" docdir)
if(IS_ABSOLUTE "${CAIRN_SYSCONFDIR}")
  set(sysconfdir "${CAIRN_SYSCONFDIR}")
elseif(CAIRN_SYSCONFDIR STREQUAL "etc" AND (prefix STREQUAL "/" OR prefix STREQUAL "/usr"))
  set(sysconfdir "/etc")
elseif(CAIRN_SYSCONFDIR STREQUAL "etc" AND prefix MATCHES "^/opt/")
  set(sysconfdir "/etc${prefix}")
else()
  cairn_full_directory("${CAIRN_SYSCONFDIR}" sysconfdir)
endif()
if(prefix STREQUAL "/")
  set(unitdir "/lib/systemd/system")
else()
  set(unitdir "${prefix}/lib/systemd/system")
endif()

# The sources name the default installation (/usr/local/bin, /etc/cairn,
# /usr/local/share/doc/cairn); each is replaced by this installation's path.
function(cairn_install_text source destination_directory name)
  file(READ "${CAIRN_SOURCE_DIR}/systemd/${source}" text)
  string(REPLACE "/usr/local/bin/" "${bindir}/" text "${text}")
  string(REPLACE "/etc/cairn/" "${sysconfdir}/cairn/" text "${text}")
  string(REPLACE "/usr/local/share/doc/cairn" "${docdir}" text "${text}")
  set(target "$ENV{DESTDIR}${destination_directory}/${name}")
  message(STATUS "Installing: ${target}")
  file(MAKE_DIRECTORY "$ENV{DESTDIR}${destination_directory}")
  file(WRITE "${target}" "${text}")
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${target}")
  set(CMAKE_INSTALL_MANIFEST_FILES "${CMAKE_INSTALL_MANIFEST_FILES}" PARENT_SCOPE)
endfunction()

foreach(unit cairn.service cairn-gc.service cairn-gc.timer)
  cairn_install_text(${unit} "${unitdir}" ${unit})
endforeach()
cairn_install_text(config.yml.example "${sysconfdir}/cairn" config.yml.example)

# The configuration itself only when there is none: reinstalling never
# overwrites an operator's edits.
set(configuration "$ENV{DESTDIR}${sysconfdir}/cairn/config.yml")
if(EXISTS "${configuration}")
  message(STATUS "Keeping: ${configuration} (already there)")
else()
  cairn_install_text(config.yml.example "${sysconfdir}/cairn" config.yml)
endif()
