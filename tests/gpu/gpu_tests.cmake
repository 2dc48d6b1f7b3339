# GPU suite, included from tests/CMakeLists.txt: the CUDA backend against the CPU reference
# on every committed golden case (label gpu; exit 77 = skipped when there is no usable GPU).
if(GC_WITH_CUDA)
  set(GC_GPU_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
  add_executable(test_gpu_vs_cpu ${GC_GPU_TEST_DIR}/test_gpu_vs_cpu.c
    ${GC_GPU_TEST_DIR}/../golden_file.c)
  target_include_directories(test_gpu_vs_cpu PRIVATE ${GC_GPU_TEST_DIR}/..)
  target_link_libraries(test_gpu_vs_cpu PRIVATE gradcam_internal m)
  target_compile_options(test_gpu_vs_cpu PRIVATE -Wall -Wextra -Werror)
  file(GLOB _gc_gpu_goldens ${GC_GPU_TEST_DIR}/../golden/*.golden.safetensors)
  foreach(golden ${_gc_gpu_goldens})
    get_filename_component(case ${golden} NAME)
    string(REPLACE ".golden.safetensors" "" case ${case})
    add_test(NAME gpu_vs_cpu_${case} COMMAND test_gpu_vs_cpu ${golden})
    set_tests_properties(gpu_vs_cpu_${case} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
      TIMEOUT 300)
  endforeach()
endif()
