# The fuzz targets (tests/fuzz/fuzz_<target>.c) in the normal build, without libFuzzer: each
# target's LLVMFuzzerTestOneInput, checks included, replays its committed regression inputs
# (tests/fuzz/regressions/<target>/: what the fuzzers once crashed on, since fixed) and its
# seed corpus (tests/fuzz/corpus/<target>/). A crash or a failed check fails the test; under
# GC_SANITIZE=ON, so does any memory error. Fuzzing itself: scripts/fuzz.sh.
# Included from tests/CMakeLists.txt (include(fuzz/fuzz_tests.cmake)).
set(GC_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})

foreach(target safetensors model image exif png_write deflate)
  add_executable(fuzz_regress_${target} ${GC_FUZZ_DIR}/fuzz_regress.c
    ${GC_FUZZ_DIR}/fuzz_${target}.c)
  target_link_libraries(fuzz_regress_${target} PRIVATE gradcam_internal)
  target_compile_definitions(fuzz_regress_${target} PRIVATE _POSIX_C_SOURCE=200809L)
  target_compile_options(fuzz_regress_${target} PRIVATE ${GC_WARNINGS})
  set(inputs ${GC_FUZZ_DIR}/corpus/${target})
  if(IS_DIRECTORY ${GC_FUZZ_DIR}/regressions/${target})
    list(APPEND inputs ${GC_FUZZ_DIR}/regressions/${target})
  endif()
  add_test(NAME fuzz_regress_${target} COMMAND fuzz_regress_${target} ${inputs})
  # the targets write their input to a scratch file (st_open and gc_image_read take paths)
  set_tests_properties(fuzz_regress_${target} PROPERTIES LABELS cpu TIMEOUT 300
    ENVIRONMENT TMPDIR=${CMAKE_CURRENT_BINARY_DIR})
endforeach()
