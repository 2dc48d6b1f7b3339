# gradcam_emu: the library with its CUDA backend on an emulated device (included from
# emu_tests.cmake, which sets GC_EMU_DIR, _gc_emu_inc and _gc_emu_opts), and the GPU test
# programs of tests/gpu built against it, their cases registered as emu_* (label cpu).
file(GLOB _gc_mocks ${GC_EMU_DIR}/mock_*.cpp)
if(NOT _gc_mocks)
  return()
endif()
add_library(gradcam_emu STATIC $<TARGET_OBJECTS:gradcam_c_obj> ${GC_EMU_DIR}/backend_emu.cpp
  ${GC_EMU_DIR}/kernels_emu.cpp ${PROJECT_SOURCE_DIR}/cuda/plan_cache.c ${_gc_mocks})
target_compile_definitions(gradcam_emu PRIVATE GC_CUDA_EMULATE)
target_include_directories(gradcam_emu PRIVATE ${GC_EMU_DIR} ${_gc_emu_inc}
  PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
find_package(OpenMP REQUIRED COMPONENTS CXX)
target_compile_options(gradcam_emu PRIVATE ${_gc_emu_opts})
set_target_properties(gradcam_emu PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
target_link_libraries(gradcam_emu PUBLIC ${GC_HOST_DEPS} OpenMP::OpenMP_CXX)

# A C++ program of tests/emu on the emulated device (the emulated runtime's hooks included).
function(gc_emu_cxx_program name)
  add_executable(${name} ${ARGN})
  target_compile_definitions(${name} PRIVATE GC_CUDA_EMULATE)
  target_include_directories(${name} PRIVATE ${GC_EMU_DIR} ${_gc_emu_inc})
  target_compile_options(${name} PRIVATE ${_gc_emu_opts})
  set_target_properties(${name} PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
  target_link_libraries(${name} PRIVATE gradcam_emu m)
endfunction()

# Every kernel against its CPU twin, the kernels emulated (kernels_emu.cpp in gradcam_emu)
gc_emu_cxx_program(test_kernels_emu ${GC_EMU_DIR}/test_kernels.cpp)
add_test(NAME kernels_emu COMMAND test_kernels_emu
  ${PROJECT_SOURCE_DIR}/models/demo/shapes-vgg.safetensors)
set_tests_properties(kernels_emu PROPERTIES LABELS "cpu;emu" TIMEOUT 600)

# Our plan builder's engine choice against the mock's catalogue (numerical and behaviour
# notes: down-conversion, tensor cores, runtime compilation with GC_CUDNN_RTC=0)
gc_emu_cxx_program(test_conv_plans_emu ${GC_EMU_DIR}/test_conv_plans.cpp)
add_test(NAME conv_plans_emu COMMAND test_conv_plans_emu)
set_tests_properties(conv_plans_emu PROPERTIES LABELS "cpu;emu" TIMEOUT 120)

# The mocks' own checks (each against loops written out in its test)
foreach(mock cudart cudnn)
  gc_emu_cxx_program(test_mock_${mock} ${GC_EMU_DIR}/test_mock_${mock}.cpp)
  add_test(NAME mock_${mock} COMMAND test_mock_${mock})
  set_tests_properties(mock_${mock} PROPERTIES LABELS "cpu;emu" TIMEOUT 300)
endforeach()

# The GPU suite against the emulated device: same sources, same cases.
set(_gc_gpu ${PROJECT_SOURCE_DIR}/tests/gpu)
set(_gc_t ${PROJECT_SOURCE_DIR}/tests)
function(gc_emu_program name)
  add_executable(${name}_emu ${ARGN})
  target_include_directories(${name}_emu PRIVATE ${_gc_t})
  target_link_libraries(${name}_emu PRIVATE gradcam_emu m)
  target_compile_options(${name}_emu PRIVATE -Wall -Wextra)
  # C programs linked with the C++ mocks
  set_target_properties(${name}_emu PROPERTIES LINKER_LANGUAGE CXX)
endfunction()
gc_emu_program(test_gpu_vs_cpu ${_gc_gpu}/test_gpu_vs_cpu.c ${_gc_gpu}/gpu_outputs.c
  ${_gc_t}/golden_file.c ${_gc_t}/compare.c)
gc_emu_program(test_gpu_features ${_gc_gpu}/test_gpu_features.c ${_gc_gpu}/gpu_outputs.c
  ${_gc_t}/golden_file.c ${_gc_t}/compare.c)
gc_emu_program(test_gpu_autotune ${_gc_gpu}/test_gpu_autotune.c ${_gc_gpu}/gpu_outputs.c
  ${_gc_t}/golden_file.c ${_gc_t}/compare.c)
gc_emu_program(test_gpu_preprocess ${_gc_gpu}/test_gpu_preprocess.c ${_gc_t}/golden_file.c)

file(GLOB _gc_emu_goldens ${_gc_t}/golden/*.golden.safetensors)
foreach(golden ${_gc_emu_goldens})
  get_filename_component(case ${golden} NAME)
  string(REPLACE ".golden.safetensors" "" case ${case})
  add_test(NAME emu_gpu_vs_cpu_${case} COMMAND test_gpu_vs_cpu_emu ${golden})
  set_tests_properties(emu_gpu_vs_cpu_${case} PROPERTIES LABELS "cpu;emu" TIMEOUT 600)
endforeach()
foreach(case tv16_default timm13_224 custom_block2)
  add_test(NAME emu_gpu_features_${case} COMMAND test_gpu_features_emu
    ${_gc_t}/golden/${case}.golden.safetensors)
  # a graph capture that fails is our mistake on the emulated device (on a GPU it may be
  # cuDNN's: reported, not failed)
  set_tests_properties(emu_gpu_features_${case} PROPERTIES LABELS "cpu;emu" TIMEOUT 900
    ENVIRONMENT "GC_TEST_GRAPHS_STRICT=1")
endforeach()
add_test(NAME emu_gpu_features_batch_plans_custom_block2 COMMAND test_gpu_features_emu
  ${_gc_t}/golden/custom_block2.golden.safetensors)
set_tests_properties(emu_gpu_features_batch_plans_custom_block2 PROPERTIES LABELS "cpu;emu"
  TIMEOUT 900 ENVIRONMENT "GC_TEST_GRAPHS_STRICT=1;GC_BATCH_PLANS=eager")
add_test(NAME emu_gpu_quick COMMAND test_gpu_features_emu
  ${_gc_t}/golden/custom_default.golden.safetensors --quick)
set_tests_properties(emu_gpu_quick PROPERTIES LABELS "cpu;emu" TIMEOUT 300
  ENVIRONMENT "GC_TEST_GRAPHS_STRICT=1")
# the quick test as scripts/device-check.sh runs it again when it failed on a GPU: the
# defaults new since the last GPU run turned off
add_test(NAME emu_gpu_quick_safe COMMAND test_gpu_features_emu
  ${_gc_t}/golden/custom_default.golden.safetensors --quick)
set_tests_properties(emu_gpu_quick_safe PROPERTIES LABELS "cpu;emu" TIMEOUT 300
  ENVIRONMENT "GC_CUDA_SYNC=1;GC_EARLY_RESULTS=0;GC_BATCH_PLANS=off;GC_TENSOR_UPLOAD=whole")
add_test(NAME emu_gpu_autotune COMMAND test_gpu_autotune_emu
  ${_gc_t}/golden/custom_block2.golden.safetensors)
set_tests_properties(emu_gpu_autotune PROPERTIES LABELS "cpu;emu" TIMEOUT 600)
add_test(NAME emu_gpu_preprocess COMMAND test_gpu_preprocess_emu
  ${_gc_t}/golden/custom_default.golden.safetensors)
set_tests_properties(emu_gpu_preprocess PROPERTIES LABELS "cpu;emu" TIMEOUT 600)
# the same with the copy ring's slots at their smallest (one image's bytes, both outputs' on
# the way down): the images go up and gc_explain_render's outputs come down in many chunks
# of one or a few images (cuda/backend.cu: stage_images_gpu, download_outputs); and every
# wait a blocking-sync event's (GC_CUDA_BLOCKING_SYNC=1: the emulated device runs stream work
# only when waited for, so a wait on an event not recorded after the work shows)
add_test(NAME emu_gpu_preprocess_ring COMMAND test_gpu_preprocess_emu
  ${_gc_t}/golden/custom_default.golden.safetensors)
set_tests_properties(emu_gpu_preprocess_ring PROPERTIES LABELS "cpu;emu" TIMEOUT 600
  ENVIRONMENT "GC_CUDA_RING_SLOT=1;GC_CUDA_BLOCKING_SYNC=1")
# gc_explain_render in two overlapped halves (GC_RENDER_PIPELINE=1, cuda/backend_pipeline.cu),
# once with the ring's whole slots, once with the smallest (the halves' uploads and downloads
# taking turns in many chunks): the emulator checks every copy's and kernel's stream order
add_test(NAME emu_gpu_preprocess_split COMMAND test_gpu_preprocess_emu
  ${_gc_t}/golden/custom_default.golden.safetensors)
set_tests_properties(emu_gpu_preprocess_split PROPERTIES LABELS "cpu;emu" TIMEOUT 600
  ENVIRONMENT "GC_RENDER_PIPELINE=1")
add_test(NAME emu_gpu_preprocess_split_ring COMMAND test_gpu_preprocess_emu
  ${_gc_t}/golden/custom_default.golden.safetensors)
set_tests_properties(emu_gpu_preprocess_split_ring PROPERTIES LABELS "cpu;emu" TIMEOUT 600
  ENVIRONMENT "GC_RENDER_PIPELINE=1;GC_CUDA_RING_SLOT=1")

# Batches smaller than max_batch on conv plans of their own (cuda/backend_plans.cu), their
# convolved images counted by the emulated cuDNN
gc_emu_program(test_batch_plans ${GC_EMU_DIR}/test_batch_plans.c)
target_include_directories(test_batch_plans_emu PRIVATE ${GC_EMU_DIR})
add_test(NAME emu_batch_plans COMMAND test_batch_plans_emu
  ${PROJECT_SOURCE_DIR}/models/demo/shapes-vgg.safetensors)
set_tests_properties(emu_batch_plans PROPERTIES LABELS "cpu;emu" TIMEOUT 600)

# When the backend takes the first block in one kernel (GC_FIRST_BLOCK=fused) and when it
# must not: cuDNN's convolved images counted, results against a twin without the switch
gc_emu_program(test_first_block_paths ${GC_EMU_DIR}/test_first_block_paths.c)
target_include_directories(test_first_block_paths_emu PRIVATE ${GC_EMU_DIR})
add_test(NAME emu_first_block_paths COMMAND test_first_block_paths_emu
  ${_gc_t}/golden/tv_vgg16_small.safetensors)
set_tests_properties(emu_first_block_paths PROPERTIES LABELS "cpu;emu" TIMEOUT 600)

# Device faults provoked on the emulated device (test_emu_faults.c)
gc_emu_program(test_emu_faults ${GC_EMU_DIR}/test_emu_faults.c)
target_include_directories(test_emu_faults_emu PRIVATE ${GC_EMU_DIR})
set(_gc_demo ${PROJECT_SOURCE_DIR}/models/demo/shapes-vgg.safetensors)
add_test(NAME emu_device_oom COMMAND test_emu_faults_emu ${_gc_demo} oom)
# 48 MiB: max_batch 2 of the demo model fits, 4096 does not
set_tests_properties(emu_device_oom PROPERTIES LABELS "cpu;emu" TIMEOUT 120
  ENVIRONMENT "GC_EMU_DEVICE_MEMORY=50331648")
# the GPU's out-of-memory test on a 1 GiB emulated device
gc_emu_program(test_gpu_oom ${_gc_gpu}/test_gpu_oom.c)
add_test(NAME emu_gpu_oom COMMAND test_gpu_oom_emu ${_gc_demo})
set_tests_properties(emu_gpu_oom PROPERTIES LABELS "cpu;emu" TIMEOUT 300
  ENVIRONMENT "GC_EMU_DEVICE_MEMORY=1073741824")
add_test(NAME emu_sticky_error COMMAND test_emu_faults_emu ${_gc_demo} sticky)
set_tests_properties(emu_sticky_error PROPERTIES LABELS "cpu;emu" TIMEOUT 120)
add_test(NAME emu_numerics COMMAND test_emu_faults_emu ${_gc_demo} numerics)
set_tests_properties(emu_numerics PROPERTIES LABELS "cpu;emu" TIMEOUT 300)
add_test(NAME emu_cudnn_oom COMMAND test_emu_faults_emu ${_gc_demo} cudnnoom)
set_tests_properties(emu_cudnn_oom PROPERTIES LABELS "cpu;emu" TIMEOUT 120)
add_test(NAME emu_no_device COMMAND test_emu_faults_emu ${_gc_demo} nodevice)
set_tests_properties(emu_no_device PROPERTIES LABELS "cpu;emu" TIMEOUT 120
  ENVIRONMENT "GC_EMU_DEVICES=0")
add_test(NAME emu_tc_only COMMAND test_emu_faults_emu ${_gc_demo} tconly)
set_tests_properties(emu_tc_only PROPERTIES LABELS "cpu;emu" TIMEOUT 120
  ENVIRONMENT "GC_EMU_CUDNN_TC_ONLY=1")
add_test(NAME emu_cudnn_version COMMAND test_emu_faults_emu ${_gc_demo} cudnnversion)
set_tests_properties(emu_cudnn_version PROPERTIES LABELS "cpu;emu" TIMEOUT 120
  ENVIRONMENT "GC_EMU_CUDNN_VERSION=90001")

# The gradcam command on the emulated device (gradcam_emu linked in), against the command on
# the CPU backend: --device all over two emulated GPUs, --workers-per-device, device errors.
find_package(Threads REQUIRED)
file(GLOB _gc_cli_sources ${PROJECT_SOURCE_DIR}/src/cli/*.c)
add_executable(gradcam_cli_emu ${_gc_cli_sources})
target_compile_definitions(gradcam_cli_emu PRIVATE _GNU_SOURCE
  GC_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(gradcam_cli_emu PRIVATE gradcam_emu PkgConfig::CJSON Threads::Threads)
set_target_properties(gradcam_cli_emu PROPERTIES LINKER_LANGUAGE CXX)
if(GC_SYSTEM_PYTHON)
  add_test(NAME emu_cli COMMAND ${GC_SYSTEM_PYTHON} ${GC_EMU_DIR}/test_cli_emu.py
    $<TARGET_FILE:gradcam_cli> $<TARGET_FILE:gradcam_cli_emu> ${PROJECT_SOURCE_DIR}
    ${CMAKE_CURRENT_BINARY_DIR}/emu_cli)
  set_tests_properties(emu_cli PROPERTIES LABELS "cpu;emu" TIMEOUT 900)
endif()

# The benchmark's CUDA modes on the emulated device: a smoke run (no timing is meaningful
# here) so that a crash or a broken mode shows up before GPU time is spent on it.
if(GC_BUILD_BENCH)
  set(_gc_b ${PROJECT_SOURCE_DIR}/bench)
  add_executable(gradcam-bench-emu ${_gc_b}/gradcam_bench.c ${_gc_b}/args.c ${_gc_b}/files.c
    ${_gc_b}/gpu.c ${_gc_b}/modes.c ${_gc_b}/output.c ${_gc_b}/pool.c ${_gc_b}/util.c)
  target_compile_definitions(gradcam-bench-emu PRIVATE _POSIX_C_SOURCE=200809L GC_BENCH_CUDA)
  target_include_directories(gradcam-bench-emu SYSTEM PRIVATE ${_gc_emu_inc})
  target_link_libraries(gradcam-bench-emu PRIVATE gradcam_emu PkgConfig::CJSON
    Threads::Threads m)
  set_target_properties(gradcam-bench-emu PROPERTIES LINKER_LANGUAGE CXX)
  if(GC_SYSTEM_PYTHON)
    add_test(NAME emu_bench_smoke COMMAND ${GC_SYSTEM_PYTHON} ${GC_EMU_DIR}/bench_smoke.py
      $<TARGET_FILE:gradcam-bench-emu> $<TARGET_FILE:gradcam_cli_emu>
      ${PROJECT_SOURCE_DIR}/models/demo/shapes-vgg.safetensors
      ${CMAKE_CURRENT_BINARY_DIR}/emu_bench)
    set_tests_properties(emu_bench_smoke PROPERTIES LABELS "cpu;emu" TIMEOUT 900)
  endif()
endif()

# Paths a real cuDNN or a debugging user may take: no fused conv+bias+ReLU engine (the
# backend then runs bias and ReLU with its own kernels), and GC_CUDA_SYNC=1 (a sync after
# every layer)
foreach(case custom_default tv11bn_default custom_guided_backprop)
  add_test(NAME emu_gpu_vs_cpu_unfused_${case} COMMAND test_gpu_vs_cpu_emu
    ${_gc_t}/golden/${case}.golden.safetensors)
  set_tests_properties(emu_gpu_vs_cpu_unfused_${case} PROPERTIES LABELS "cpu;emu" TIMEOUT 600
    ENVIRONMENT "GC_EMU_CUDNN_NO_FUSION=1")
endforeach()
# One golden case of a tests/gpu program on the emulated device under an environment switch.
function(gc_emu_switch_test name program case env)
  add_test(NAME ${name} COMMAND ${program} ${_gc_t}/golden/${case}.golden.safetensors)
  set_tests_properties(${name} PROPERTIES LABELS "cpu;emu" TIMEOUT 900 ENVIRONMENT "${env}")
endfunction()
# the user's switch for the same path (GC_CUDNN_FUSE=0), as gpu_vs_cpu_unfused_* run it on a GPU
gc_emu_switch_test(emu_gpu_vs_cpu_fuse0_custom_guided_backprop test_gpu_vs_cpu_emu
  custom_guided_backprop "GC_CUDNN_FUSE=0")
# our first-conv kernel in bf16/fp16 too (GC_FIRST_CONV=ours; by default only in fp32)
gc_emu_switch_test(emu_gpu_features_first_ours_tv16_default test_gpu_features_emu tv16_default
  "GC_FIRST_CONV=ours")
# test_gpu_features_emu on a golden case under an environment switch that puts one of our
# kernels in the bf16 and fp16 contexts: passes only when the case passes and the kernel ran
# (GC_EMU_TRACE names each kernel at its first launch). sanitized OFF: skipped (77) under
# CI's sanitizer stage (GC_TEST_SANITIZER), where the emulated kernel's 224x224 maps take
# ten minutes; kernels_emu and the smaller cases check its memory there.
function(gc_emu_kernel_test name case env kernel sanitized)
  set(_skip "")
  if(NOT sanitized)
    set(_skip "[ -n \"$GC_TEST_SANITIZER\" ] && { echo 'skipped under a sanitizer'; exit 77; }; ")
  endif()
  add_test(NAME ${name} COMMAND sh -c
    "${_skip}${env} GC_EMU_TRACE=1 \"$0\" \"$1\" >\"$2\" 2>&1; rc=$?; cat \"$2\"; [ $rc = 0 ] && grep -q 'kernel ${kernel}' \"$2\""
    $<TARGET_FILE:test_gpu_features_emu> ${_gc_t}/golden/${case}.golden.safetensors
    ${CMAKE_CURRENT_BINARY_DIR}/${name}.log)
  set_tests_properties(${name} PROPERTIES LABELS "cpu;emu" TIMEOUT 900 SKIP_RETURN_CODE 77)
endfunction()
# the tensor-core first conv (GC_FIRST_CONV=tc, opt-in: cuda/first_conv_tc.cu), on a model
# whose first conv it takes (16 outputs; tv16's 8 it does not)
gc_emu_kernel_test(emu_gpu_features_first_tc_custom_default custom_default GC_FIRST_CONV=tc
  op_first_conv_tc_kernel ON)
# the head's GEMMs by cuBLASLt (GC_HEAD_GEMM=lt, opt-in: cuda/backend_head_gemm.cu), its
# best candidate taken whatever the timing said (lt-always), in the bf16/fp16 contexts
gc_emu_kernel_test(emu_gpu_features_head_lt_custom_default custom_default
  GC_HEAD_GEMM=lt-always cublasLtMatmul ON)
# the first block in one kernel (GC_FIRST_BLOCK=fused, opt-in: cuda/first_block.cu) on
# VGG16's layout
gc_emu_kernel_test(emu_gpu_features_first_block_tv16_default tv16_default
  "GC_FIRST_BLOCK=fused GC_TEST_FIRST_BLOCK_PHASES=1" op_first_block_kernel OFF)
# every conv fused, true fp32 included (GC_CUDNN_FUSE=1; unfused by default there)
gc_emu_switch_test(emu_gpu_vs_cpu_fuse1_custom_default test_gpu_vs_cpu_emu custom_default
  "GC_CUDNN_FUSE=1")
# the first conv by cuDNN's (mocked) conv in fp32 too, where our kernel is the default; forward
# and guided backward
gc_emu_switch_test(emu_gpu_vs_cpu_first_cudnn_tv16_guided_gradcam test_gpu_vs_cpu_emu
  tv16_guided_gradcam "GC_FIRST_CONV=cudnn")
add_test(NAME emu_gpu_quick_sync COMMAND test_gpu_features_emu
  ${_gc_t}/golden/custom_block2.golden.safetensors --quick)
set_tests_properties(emu_gpu_quick_sync PROPERTIES LABELS "cpu;emu" TIMEOUT 300
  ENVIRONMENT "GC_CUDA_SYNC=1;GC_TEST_GRAPHS_STRICT=1")
