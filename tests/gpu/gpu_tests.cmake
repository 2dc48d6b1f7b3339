# GPU suite, included from tests/CMakeLists.txt: the CUDA backend against the CPU reference
# (label gpu; exit 77 = skipped when there is no usable GPU).
#   gpu_vs_cpu_<case>     every committed golden case (its method, layer, score, classes)
#   gpu_vs_cpu_unfused_*  three of them with every conv unfused (GC_CUDNN_FUSE=0; fp32 is
#                         unfused by default since 2026-11-27: they add tf32's)
#   gpu_vs_cpu_fused_custom_default  every conv fused (GC_CUDNN_FUSE=1), fp32 included
#   gpu_vs_cpu_first_cudnn_*  two with the first conv by cuDNN in every precision
#                         (GC_FIRST_CONV=cudnn; by default our kernel takes it in fp32)
#   gpu_oom               device memory running out at creation and for a batch of photos
#                         (test_gpu_oom.c; the rest of the memory taken by the test)
#   gpu_features_<case>   methods, counterfactual, guided backprop, gc_explain_device,
#                         bf16/fp16, profiling, batches of mixed sizes (test_gpu_features.c);
#                         gpu_features_first_ours_tv16_default with our first conv everywhere,
#                         gpu_features_first_tc_custom_default with the tensor-core one
#   gpu_quick             guided + gc_explain_device on the smallest model: the one
#                         scripts/device-check.sh also runs under compute-sanitizer
#   gpu_autotune          options.autotune: an autotuned fp32 context against the default
#                         one on custom_block2 (test_gpu_autotune.c); its --cpu run checks
#                         that the CPU backend ignores the option (label cpu)
#   gpu_preprocess        GPU preprocessing and rendering (gc_explain, gc_explain_render)
#                         bit for bit against the host code (test_gpu_preprocess.c); its
#                         --cpu-as-gpu self-test runs on the CPU (label cpu)
if(GC_WITH_CUDA)
  # -Werror only with GC_WERROR: the device machine's compiler may warn where ours does not,
  # and a failed build there costs a whole GPU session
  set(_gc_gpu_warn -Wall -Wextra)
  if(GC_WERROR)
    list(APPEND _gc_gpu_warn -Werror)
  endif()
  set(GC_GPU_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
  # COST: `ctest -j` starts the costliest first (until it has timings of its own), so the
  # long tests (autotune, preprocess, features) do not start last and overrun the device
  # check's budget; the many short gpu_vs_cpu_* fill the gaps.
  add_executable(test_gpu_vs_cpu ${GC_GPU_TEST_DIR}/test_gpu_vs_cpu.c
    ${GC_GPU_TEST_DIR}/gpu_outputs.c ${GC_GPU_TEST_DIR}/../golden_file.c
    ${GC_GPU_TEST_DIR}/../compare.c)
  target_include_directories(test_gpu_vs_cpu PRIVATE ${GC_GPU_TEST_DIR}/..)
  target_link_libraries(test_gpu_vs_cpu PRIVATE gradcam_internal m)
  target_compile_options(test_gpu_vs_cpu PRIVATE ${_gc_gpu_warn})
  file(GLOB _gc_gpu_goldens ${GC_GPU_TEST_DIR}/../golden/*.golden.safetensors)
  foreach(golden ${_gc_gpu_goldens})
    get_filename_component(case ${golden} NAME)
    string(REPLACE ".golden.safetensors" "" case ${case})
    add_test(NAME gpu_vs_cpu_${case} COMMAND test_gpu_vs_cpu ${golden})
    set_tests_properties(gpu_vs_cpu_${case} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
      TIMEOUT 300 COST 10)
  endforeach()

  # Every conv unfused (GC_CUDNN_FUSE=0: cuDNN's plain conv, then our bias + ReLU kernel):
  # the bench times it, so its numbers are checked here, forward, backward and guided
  foreach(case custom_default tv11bn_default custom_guided_backprop)
    add_test(NAME gpu_vs_cpu_unfused_${case} COMMAND test_gpu_vs_cpu
      ${GC_GPU_TEST_DIR}/../golden/${case}.golden.safetensors)
    set_tests_properties(gpu_vs_cpu_unfused_${case} PROPERTIES LABELS gpu
      SKIP_RETURN_CODE 77 TIMEOUT 300 COST 10 ENVIRONMENT "GC_CUDNN_FUSE=0")
  endforeach()

  # Every conv fused in fp32 too (GC_CUDNN_FUSE=1; true fp32 runs unfused by default since
  # 2026-11-27), so that the fused true-fp32 graphs stay checked against the CPU
  add_test(NAME gpu_vs_cpu_fused_custom_default COMMAND test_gpu_vs_cpu
    ${GC_GPU_TEST_DIR}/../golden/custom_default.golden.safetensors)
  set_tests_properties(gpu_vs_cpu_fused_custom_default PROPERTIES LABELS gpu
    SKIP_RETURN_CODE 77 TIMEOUT 300 COST 10 ENVIRONMENT "GC_CUDNN_FUSE=1")

  # The first conv by cuDNN in fp32 too (GC_FIRST_CONV=cudnn; by default our kernel,
  # cuda/first_conv.cu, takes it there): the bench times it, and the other precisions and
  # models whose first conv our kernel does not take run it; forward and the guided backward
  foreach(case tv16_default tv16_guided_gradcam)
    add_test(NAME gpu_vs_cpu_first_cudnn_${case} COMMAND test_gpu_vs_cpu
      ${GC_GPU_TEST_DIR}/../golden/${case}.golden.safetensors)
    set_tests_properties(gpu_vs_cpu_first_cudnn_${case} PROPERTIES LABELS gpu
      SKIP_RETURN_CODE 77 TIMEOUT 300 COST 10 ENVIRONMENT "GC_FIRST_CONV=cudnn")
  endforeach()

  add_executable(test_gpu_features ${GC_GPU_TEST_DIR}/test_gpu_features.c
    ${GC_GPU_TEST_DIR}/gpu_outputs.c ${GC_GPU_TEST_DIR}/../golden_file.c
    ${GC_GPU_TEST_DIR}/../compare.c)
  target_include_directories(test_gpu_features PRIVATE ${GC_GPU_TEST_DIR}/..)
  target_link_libraries(test_gpu_features PRIVATE gradcam_internal CUDA::cudart m)
  target_compile_options(test_gpu_features PRIVATE ${_gc_gpu_warn})
  # VGG16 layout at 224 (torchvision head), the timm head (7x7 patch layer) and a custom
  # architecture with its target in the middle (convs above the target)
  foreach(case tv16_default timm13_224 custom_block2)
    add_test(NAME gpu_features_${case} COMMAND test_gpu_features
      ${GC_GPU_TEST_DIR}/../golden/${case}.golden.safetensors)
    set_tests_properties(gpu_features_${case} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
      TIMEOUT 300 COST 80)
  endforeach()
  # our first-conv kernel in every precision (GC_FIRST_CONV=ours; by default only in fp32):
  # its bf16/fp16 path, which the bench times, against the CPU
  add_test(NAME gpu_features_first_ours_tv16_default COMMAND test_gpu_features
    ${GC_GPU_TEST_DIR}/../golden/tv16_default.golden.safetensors)
  set_tests_properties(gpu_features_first_ours_tv16_default PROPERTIES LABELS gpu
    SKIP_RETURN_CODE 77 TIMEOUT 300 COST 80 ENVIRONMENT "GC_FIRST_CONV=ours")
  # the tensor-core first conv (GC_FIRST_CONV=tc, opt-in, cuda/first_conv_tc.cu) in the
  # bf16/fp16 contexts, on a model whose first conv it takes (16 outputs; tv16 has 8); its
  # emulated twin shows that the kernel ran (emu_gpu_features_first_tc_custom_default)
  add_test(NAME gpu_features_first_tc_custom_default COMMAND test_gpu_features
    ${GC_GPU_TEST_DIR}/../golden/custom_default.golden.safetensors)
  set_tests_properties(gpu_features_first_tc_custom_default PROPERTIES LABELS gpu
    SKIP_RETURN_CODE 77 TIMEOUT 300 COST 40 ENVIRONMENT "GC_FIRST_CONV=tc")
  # the head's GEMMs by cuBLASLt (GC_HEAD_GEMM=lt, opt-in, cuda/backend_head_gemm.cu): its
  # best candidate taken whatever the timing at creation said (lt-always), in the bf16/fp16
  # contexts against the CPU
  add_test(NAME gpu_features_head_lt_custom_default COMMAND test_gpu_features
    ${GC_GPU_TEST_DIR}/../golden/custom_default.golden.safetensors)
  set_tests_properties(gpu_features_head_lt_custom_default PROPERTIES LABELS gpu
    SKIP_RETURN_CODE 77 TIMEOUT 300 COST 30 ENVIRONMENT "GC_HEAD_GEMM=lt-always")
  # the first block (conv, conv, pool) in one kernel (GC_FIRST_BLOCK=fused, opt-in,
  # cuda/first_block.cu) in the bf16/fp16 contexts of VGG16's layout (its first block of 8
  # channels: the kernel's half group); its emulated twin shows that the kernel ran
  add_test(NAME gpu_features_first_block_tv16_default COMMAND test_gpu_features
    ${GC_GPU_TEST_DIR}/../golden/tv16_default.golden.safetensors)
  set_tests_properties(gpu_features_first_block_tv16_default PROPERTIES LABELS gpu
    SKIP_RETURN_CODE 77 TIMEOUT 300 COST 40
    ENVIRONMENT "GC_FIRST_BLOCK=fused;GC_TEST_FIRST_BLOCK_PHASES=1")
  # batches smaller than max_batch on conv plans of their own from the first such call
  # (GC_BATCH_PLANS=eager; cuda/backend_plans.cu): the batches of 1 and 4 on max_batch 7,
  # the graphs' second batch size and the images' batches on cuDNN plans built for them
  add_test(NAME gpu_features_batch_plans_custom_block2 COMMAND test_gpu_features
    ${GC_GPU_TEST_DIR}/../golden/custom_block2.golden.safetensors)
  set_tests_properties(gpu_features_batch_plans_custom_block2 PROPERTIES LABELS gpu
    SKIP_RETURN_CODE 77 TIMEOUT 300 COST 40 ENVIRONMENT "GC_BATCH_PLANS=eager")
  add_test(NAME gpu_quick COMMAND test_gpu_features
    ${GC_GPU_TEST_DIR}/../golden/custom_default.golden.safetensors --quick)
  set_tests_properties(gpu_quick PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 120)

  # device memory running out (with the rest of the device's memory taken by the test):
  # context creation and a batch of photos fail with GC_ERR_OUT_OF_MEMORY, the context stays
  # usable, nothing is left allocated
  add_executable(test_gpu_oom ${GC_GPU_TEST_DIR}/test_gpu_oom.c)
  target_include_directories(test_gpu_oom PRIVATE ${GC_GPU_TEST_DIR}/..)
  target_link_libraries(test_gpu_oom PRIVATE gradcam CUDA::cudart m)
  target_compile_options(test_gpu_oom PRIVATE ${_gc_gpu_warn})
  add_test(NAME gpu_oom COMMAND test_gpu_oom
    ${PROJECT_SOURCE_DIR}/models/demo/shapes-vgg.safetensors)
  # RUN_SERIAL: it takes nearly all of the device's memory for a while; COST: first, so
  # that it runs alone at the start rather than last against the device check's deadline
  set_tests_properties(gpu_oom PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 180
    RUN_SERIAL TRUE COST 1000)

  add_executable(test_gpu_autotune ${GC_GPU_TEST_DIR}/test_gpu_autotune.c
    ${GC_GPU_TEST_DIR}/gpu_outputs.c ${GC_GPU_TEST_DIR}/../golden_file.c
    ${GC_GPU_TEST_DIR}/../compare.c)
  target_include_directories(test_gpu_autotune PRIVATE ${GC_GPU_TEST_DIR}/..)
  target_link_libraries(test_gpu_autotune PRIVATE gradcam_internal m)
  target_compile_options(test_gpu_autotune PRIVATE ${_gc_gpu_warn})
  add_test(NAME gpu_autotune COMMAND test_gpu_autotune
    ${GC_GPU_TEST_DIR}/../golden/custom_block2.golden.safetensors)
  # the tuning bounded to 15 s of the device check's budget (3 candidates per plan)
  set_tests_properties(gpu_autotune PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 180
    COST 100 ENVIRONMENT "GC_CUDNN_AUTOTUNE_SECONDS=15")
  add_test(NAME gpu_autotune_cpu COMMAND test_gpu_autotune
    ${GC_GPU_TEST_DIR}/../golden/custom_block2.golden.safetensors --cpu)
  set_tests_properties(gpu_autotune_cpu PROPERTIES LABELS cpu TIMEOUT 120)

  add_executable(test_gpu_preprocess ${GC_GPU_TEST_DIR}/test_gpu_preprocess.c
    ${GC_GPU_TEST_DIR}/../golden_file.c)
  target_include_directories(test_gpu_preprocess PRIVATE ${GC_GPU_TEST_DIR}/..)
  target_link_libraries(test_gpu_preprocess PRIVATE gradcam_internal m)
  target_compile_options(test_gpu_preprocess PRIVATE ${_gc_gpu_warn})
  add_test(NAME gpu_preprocess COMMAND test_gpu_preprocess
    ${GC_GPU_TEST_DIR}/../golden/custom_default.golden.safetensors)
  set_tests_properties(gpu_preprocess PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 120
    COST 90)
  add_test(NAME gpu_preprocess_ring COMMAND test_gpu_preprocess
    ${GC_GPU_TEST_DIR}/../golden/custom_default.golden.safetensors)
  set_tests_properties(gpu_preprocess_ring PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 120
    ENVIRONMENT "GC_CUDA_RING_SLOT=1;GC_CUDA_BLOCKING_SYNC=1")
  add_test(NAME gpu_preprocess_split COMMAND test_gpu_preprocess
    ${GC_GPU_TEST_DIR}/../golden/custom_default.golden.safetensors)
  set_tests_properties(gpu_preprocess_split PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
    TIMEOUT 120 ENVIRONMENT "GC_RENDER_PIPELINE=1")
  add_test(NAME gpu_preprocess_selftest COMMAND test_gpu_preprocess
    ${GC_GPU_TEST_DIR}/../golden/custom_default.golden.safetensors --cpu-as-gpu)
  set_tests_properties(gpu_preprocess_selftest PROPERTIES LABELS cpu TIMEOUT 300)
endif()
