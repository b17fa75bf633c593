# CMake toolchain file: cross-compile for 32-bit ARM Linux (Debian's armhf)
# and run what was built -- ctest's tests, try_run() checks -- under pyuser.
#
#   cmake -S . -B build-arm --toolchain arm-linux-gnueabihf.cmake
#
# CMake puts CMAKE_CROSSCOMPILING_EMULATOR in front of every test command
# whose executable is a target of the project.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)

# Static programs need no armhf libraries at run time.  For dynamic ones,
# drop this and tell pyuser where the armhf root is (PYUSER_LD_PREFIX, or
# /etc/pyuser/arm.conf): see docs/cmake.md.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# pyuser-arm from PATH unless given with -DCMAKE_CROSSCOMPILING_EMULATOR=...
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR pyuser-arm)
endif()

# Libraries and headers come from the cross toolchain, programs from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
