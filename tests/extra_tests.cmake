# Extra CTest programs, included from tests/CMakeLists.txt (include(extra_tests.cmake)):
#   weights_errors  crafted bad safetensors files: one clear error each, never a crash
#   api             the public API's contract on the committed tv_vgg16_small golden model
# Both use only the public API and link the shared library like any user would.
set(GC_EXTRA_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_executable(test_weights_errors ${GC_EXTRA_TEST_DIR}/test_weights_errors.c)
target_link_libraries(test_weights_errors PRIVATE gradcam m)
target_compile_options(test_weights_errors PRIVATE -Wall -Wextra -Werror)
add_test(NAME weights_errors COMMAND test_weights_errors)

add_executable(test_api ${GC_EXTRA_TEST_DIR}/test_api.c)
target_link_libraries(test_api PRIVATE gradcam m)
target_compile_options(test_api PRIVATE -Wall -Wextra -Werror)
# Without a CUDA backend in the build, CUDA and bf16 requests must be GC_ERR_UNSUPPORTED.
if(NOT GC_WITH_CUDA)
  target_compile_definitions(test_api PRIVATE GC_TEST_CPU_ONLY=1)
endif()
add_test(NAME api COMMAND test_api ${GC_EXTRA_TEST_DIR}/golden/tv_vgg16_small.safetensors)

set_tests_properties(weights_errors api PROPERTIES LABELS cpu TIMEOUT 300)

# The PyTorch oracle every golden comes from (tests/pyref/gcref.py) against pytorch-grad-cam
# itself: five CAM methods and guided backprop. Needs pytorch-grad-cam and ttach, installed
# or as downloaded sdists/wheels in GC_PYTORCH_GRAD_CAM (default .deps/wheels, filled by
# `pip download grad-cam ttach --no-deps -d .deps/wheels`); skipped (77) without them.
set(GC_PYTORCH_GRAD_CAM "${CMAKE_SOURCE_DIR}/.deps/wheels" CACHE PATH
    "pytorch-grad-cam sdist/wheel folder for the oracle check")
find_program(GC_SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(GC_SYSTEM_PYTHON)
  add_test(NAME oracle_vs_pytorch_grad_cam
           COMMAND ${GC_SYSTEM_PYTHON} ${GC_EXTRA_TEST_DIR}/pyref/check_vs_pytorch_grad_cam.py
                   ${GC_PYTORCH_GRAD_CAM})
  set_tests_properties(oracle_vs_pytorch_grad_cam PROPERTIES LABELS cpu TIMEOUT 300
                       SKIP_RETURN_CODE 77)
endif()

# A CPU test program tests/test_<name>.c that reaches the library's internals.
function(gc_internal_test name timeout)
  add_executable(test_${name} ${GC_EXTRA_TEST_DIR}/test_${name}.c)
  target_link_libraries(test_${name} PRIVATE gradcam_internal m)
  target_compile_options(test_${name} PRIVATE -Wall -Wextra -Werror)
  add_test(NAME ${name} COMMAND test_${name})
  set_tests_properties(${name} PROPERTIES LABELS cpu TIMEOUT ${timeout})
endfunction()

# The one-pixel-at-a-time forms of preprocessing and rendering that the CUDA kernels run
# (src/image_math.h) against resize.c's and render.c's row passes, byte for byte, on the CPU.
gc_internal_test(pixel_paths 300)

# The PNG writer's Huffman-only DEFLATE coder (src/deflate_huff.c) against zlib's and
# libdeflate's decoders.
gc_internal_test(deflate 120)

# The autotuner's on-disk choices (cuda/plan_cache.c, built with the CUDA backend)
if(GC_WITH_CUDA)
  add_executable(test_plan_cache ${GC_EXTRA_TEST_DIR}/test_plan_cache.c)
  target_include_directories(test_plan_cache PRIVATE ${PROJECT_SOURCE_DIR}/cuda)
  target_link_libraries(test_plan_cache PRIVATE gradcam_internal)
  target_compile_options(test_plan_cache PRIVATE -Wall -Wextra -Werror)
  target_compile_definitions(test_plan_cache PRIVATE _POSIX_C_SOURCE=200809L)
  add_test(NAME plan_cache COMMAND test_plan_cache ${CMAKE_CURRENT_BINARY_DIR}/plan_cache_test)
  set_tests_properties(plan_cache PROPERTIES LABELS cpu TIMEOUT 120)
endif()

# Our cuDNN graphs as the real cuDNN takes them, without a GPU: gradcam-cudnn-plans builds
# every VGG16 conv plan (batch 256, four precisions) through cuDNN's deviceless path for the
# H100 described in tools/h100-sxm.json; every plan must finalize and every forward plan fuse
# bias + ReLU (as CI's cuDNN does: docs/validation.md). cuDNN loads libcuda.so.1 even then:
# the toolkit's stub stands in for the driver (this test only: never on a GPU's path).
if(TARGET gradcam-cudnn-plans)
  find_file(GC_CUDA_STUB libcuda.so PATHS ${CUDAToolkit_LIBRARY_DIR}/stubs
    ${CUDAToolkit_LIBRARY_ROOT}/lib64/stubs NO_DEFAULT_PATH)
  if(GC_CUDA_STUB)
    set(_gc_stub_dir ${CMAKE_CURRENT_BINARY_DIR}/cuda-driver-stub)
    file(MAKE_DIRECTORY ${_gc_stub_dir})
    file(CREATE_LINK ${GC_CUDA_STUB} ${_gc_stub_dir}/libcuda.so.1 SYMBOLIC)
    add_test(NAME cudnn_plans_deviceless COMMAND gradcam-cudnn-plans --batch 256
      --device-json ${PROJECT_SOURCE_DIR}/tools/h100-sxm.json --expect-fused)
    set_tests_properties(cudnn_plans_deviceless PROPERTIES LABELS cpu TIMEOUT 300
      SKIP_RETURN_CODE 77 ENVIRONMENT "LD_LIBRARY_PATH=${_gc_stub_dir}:$ENV{LD_LIBRARY_PATH}")
    # and the small models the GPU tests run, at their batch of 7 (odd channel counts, 4 to
    # 64; non-square inputs)
    foreach(m custom_small dead_small timm_vgg13_small tv_vgg11_bn_small tv_vgg16_small)
      add_test(NAME cudnn_plans_deviceless_${m} COMMAND gradcam-cudnn-plans --batch 7
        --weights ${CMAKE_CURRENT_SOURCE_DIR}/golden/${m}.safetensors
        --device-json ${PROJECT_SOURCE_DIR}/tools/h100-sxm.json --expect-fused)
      set_tests_properties(cudnn_plans_deviceless_${m} PROPERTIES LABELS cpu TIMEOUT 300
        SKIP_RETURN_CODE 77 ENVIRONMENT "LD_LIBRARY_PATH=${_gc_stub_dir}:$ENV{LD_LIBRARY_PATH}")
    endforeach()
  endif()
endif()

# the class ranking (gc_top1, gc_top_classes) against a qsort oracle: ties, NaN, infinities
gc_internal_test(ranking 60)

# the device benchmark's summary and floor (bench/summarize.py, bench/roofline.py) on the first
# H100 run's records plus records of the kinds added since (per-layer times, --stats, unfused)
if(GC_SYSTEM_PYTHON)
  add_test(NAME bench_summary
           COMMAND ${GC_SYSTEM_PYTHON} ${GC_EXTRA_TEST_DIR}/test_bench_summary.py
                   ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/bench_summary)
  set_tests_properties(bench_summary PROPERTIES LABELS cpu TIMEOUT 120)
endif()
