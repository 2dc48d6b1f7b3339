# The CUDA backend's own kernels against their CPU twins (tests/emu/test_kernels.cpp), twice:
#   kernels_emu   the kernels built by the host C++ compiler and run on the CPU
#                 (cuda_emulate.h): label cpu, runs in CI; under GC_SANITIZE it is built
#                 with ASan+UBSan too, so an out-of-bounds kernel read or write fails here
#   kernels_gpu   the library's real kernels on the device (label gpu, exit 77 without one)
# And the whole CUDA backend on an emulated device (gradcam_emu: cuda/*.cu built by the host
# compiler, linked with mocks of cudart, cuBLAS and cuDNN that run everything on the CPU,
# strictly: see the mock_*.cpp files), with the GPU suite of tests/gpu run against it:
#   emu_<gpu test>  the same programs and cases as tests/gpu/gpu_tests.cmake (label cpu)
# All need the CUDA headers (and cuDNN's, through cuda/check.cuh): built when the CUDA
# backend is, and when a C++ compiler is at hand.
if(GC_WITH_CUDA)
  include(CheckLanguage)
  check_language(CXX)
  if(CMAKE_CXX_COMPILER)
    enable_language(CXX)
    set(GC_EMU_DIR ${CMAKE_CURRENT_LIST_DIR})
    set(_gc_emu_inc ${PROJECT_SOURCE_DIR}/cuda ${PROJECT_SOURCE_DIR}/src
      ${PROJECT_SOURCE_DIR}/include ${CUDAToolkit_INCLUDE_DIRS} ${CUDNN_INCLUDE_DIR})
    # -ffp-contract=off: the host path's rounding, operation by operation (as the C code)
    set(_gc_emu_opts -Wall -Wextra -ffp-contract=off)
    if(GC_WERROR)
      list(APPEND _gc_emu_opts -Werror)
    endif()
    # the top file gives the sanitizers to C only: the C++ here gets them too
    if(GC_SANITIZE)
      list(APPEND _gc_emu_opts -fsanitize=address,undefined -fno-omit-frame-pointer)
    endif()

    add_executable(test_kernels_gpu ${GC_EMU_DIR}/test_kernels.cpp)
    target_include_directories(test_kernels_gpu PRIVATE ${_gc_emu_inc})
    target_compile_options(test_kernels_gpu PRIVATE ${_gc_emu_opts})
    set_target_properties(test_kernels_gpu PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
    target_link_libraries(test_kernels_gpu PRIVATE gradcam_internal m)
    add_test(NAME kernels_gpu COMMAND test_kernels_gpu
      ${PROJECT_SOURCE_DIR}/models/demo/shapes-vgg.safetensors)
    set_tests_properties(kernels_gpu PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 120)

    # the emulated device is for machines without one: scripts/device-check.sh turns it off
    option(GC_BUILD_EMU "Build the CUDA backend on an emulated device (tests/emu)" ON)
    if(GC_BUILD_EMU)
      include(${GC_EMU_DIR}/backend_emu.cmake)
    endif()
  endif()
endif()
