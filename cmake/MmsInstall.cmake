# Install layout: the relative paths that make an installed tree work
# wherever it is copied or unpacked (cmake --install --prefix ANY), and the
# switch a distribution package turns off (scripts/package: paths under
# /usr, no RPATH, as Debian policy wants).
#
#   MMS_RELOCATABLE          ON: tools find libmmstats through
#                            RPATH $ORIGIN/<bin-to-lib>; mmstats.pc computes
#                            its prefix from ${pcfiledir}
#   MMS_BINDIR_TO_LIBDIR     libdir relative to bindir (mmstat-run finds the
#                            shim there, relocatable or not)
#   MMS_TOOLS_INSTALL_RPATH  the tools' INSTALL_RPATH (empty when off)
#   MMS_PC_PREFIX            mmstats.pc's prefix= line
#   MMS_PC_LIBDIR, MMS_PC_INCLUDEDIR  its libdir= and includedir= lines
include(GNUInstallDirs)

option(MMS_RELOCATABLE
  "Installed tree works from any prefix (RPATH \$ORIGIN, relative .pc)" ON)

file(RELATIVE_PATH MMS_BINDIR_TO_LIBDIR ${CMAKE_INSTALL_FULL_BINDIR}
  ${CMAKE_INSTALL_FULL_LIBDIR})
if(MMS_BINDIR_TO_LIBDIR STREQUAL "")
  set(MMS_BINDIR_TO_LIBDIR .)
endif()

# An absolute CMAKE_INSTALL_LIBDIR/INCLUDEDIR is not under the prefix:
# nothing can be computed relative to it.
set(_mms_relative_dirs ON)
foreach(_d LIBDIR INCLUDEDIR BINDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_d}}")
    set(_mms_relative_dirs OFF)
  endif()
endforeach()

if(MMS_RELOCATABLE AND _mms_relative_dirs)
  set(MMS_TOOLS_INSTALL_RPATH "$ORIGIN/${MMS_BINDIR_TO_LIBDIR}")
  file(RELATIVE_PATH _mms_pc_up ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
    ${CMAKE_INSTALL_PREFIX})
  string(REGEX REPLACE "/$" "" _mms_pc_up "${_mms_pc_up}")
  set(MMS_PC_PREFIX "\${pcfiledir}/${_mms_pc_up}")
  set(MMS_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(MMS_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
else()
  if(MMS_RELOCATABLE)
    message(STATUS "mmstats: an absolute install dir was given; "
      "the installed tree is not relocatable")
  endif()
  set(MMS_TOOLS_INSTALL_RPATH "")
  set(MMS_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(MMS_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(MMS_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
endif()
