# Installs the build tree into WORK_DIR/prefix and builds examples/simple.c against it twice: as a
# CMake project (find_package(dsvl)) and with pkg-config; each program must answer on the fixture.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
# SANITIZE_FLAGS: a sanitizer build's libdsvl needs its runtime loaded first, so the consumers are
# built with the same -fsanitize flags.
set(model ${SOURCE_DIR}/tests/data/fixtures/vl2_tiny/ckpt)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/dsvl/dsvl.h include/dsvl/dsvl_c.h include/dsvl/error.h bin/dsvl)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()

# find_package(dsvl)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples -B ${WORK_DIR}/cmake-build -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_C_COMPILER=${C_COMPILER} "-DCMAKE_C_FLAGS=${SANITIZE_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${SANITIZE_FLAGS}")
run(${CMAKE_COMMAND} --build ${WORK_DIR}/cmake-build)
run(${WORK_DIR}/cmake-build/simple ${model} "Hello" ${SOURCE_DIR}/tests/data/fixtures/images/D_17x23.png 3)
if(NOT last_output MATCHES "\\[3 tokens")
  message(FATAL_ERROR "find_package example printed: ${last_output}")
endif()

# pkg-config
file(GLOB_RECURSE pcs ${prefix}/*/dsvl.pc)
list(LENGTH pcs n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected one installed dsvl.pc, found: ${pcs}")
endif()
get_filename_component(pcdir ${pcs} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pcdir})
run(pkg-config --cflags --libs dsvl)
string(STRIP "${last_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run(${C_COMPILER} -std=c99 -Wall -Werror ${SANITIZE_FLAGS} ${SOURCE_DIR}/examples/simple.c -o ${WORK_DIR}/simple_pc
    ${flags})
run(${WORK_DIR}/simple_pc ${model} "Hello" ${SOURCE_DIR}/tests/data/fixtures/images/D_17x23.png 3)
if(NOT last_output MATCHES "\\[3 tokens")
  message(FATAL_ERROR "pkg-config example printed: ${last_output}")
endif()
