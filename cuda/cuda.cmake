# cuda/cuda.cmake — the CUDA backend's build, included by the top CMakeLists.txt before the
# library is defined. When nvcc, the CUDA toolkit (cudart, cuBLAS) and cuDNN 9 are all found
# it sets GC_CU_SOURCES (the .cu files) and GC_CUDA_LIBS (cudart, cuBLAS, cuDNN), which the
# top file builds and links into the library, and defines GC_WITH_CUDA (C and CUDA).
# Otherwise it says what is missing and leaves the CPU-only build exactly as it was
# (GC_WITH_CUDA OFF).

option(GC_WITH_CUDA "Build the CUDA backend (needs nvcc, cuBLAS and cuDNN 9)" ON)
set(CUDNN_ROOT "/usr/local/cuda" CACHE PATH "Where cuDNN 9 lives (include/cudnn.h, lib/)")

set(_gc_cuda_ok OFF)

if(GC_WITH_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(STATUS "gradcam: no CUDA compiler found; building the CPU backend only")
  else()
    # cuDNN: a toolkit-style install, or pip's nvidia-cudnn-cu* wheel (site-packages/nvidia/cudnn)
    set(_gc_cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT} /usr/local/cuda /usr)
    file(GLOB _gc_py_cudnn
      /usr/lib/python3*/site-packages/nvidia/cudnn /usr/local/lib/python3*/site-packages/nvidia/cudnn
      /usr/local/lib/python3*/dist-packages/nvidia/cudnn $ENV{HOME}/.local/lib/python3*/site-packages/nvidia/cudnn)
    list(APPEND _gc_cudnn_hints ${_gc_py_cudnn})
    find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${_gc_cudnn_hints} PATH_SUFFIXES include)
    # NAMES_PER_DIR: the first hint with either name wins (CUDNN_ROOT first), so that a pip
    # wheel's libcudnn.so.9 is not passed over for another cuDNN's libcudnn.so elsewhere
    # (headers of one version with the library of another)
    find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 NAMES_PER_DIR HINTS ${_gc_cudnn_hints}
      PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu)
    find_package(CUDAToolkit QUIET)
    if(NOT CUDAToolkit_FOUND OR NOT TARGET CUDA::cudart OR NOT TARGET CUDA::cublas)
      message(STATUS "gradcam: CUDA toolkit (cudart, cuBLAS) not found; CPU backend only")
    elseif(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
      message(STATUS "gradcam: cuDNN 9 not found (set -DCUDNN_ROOT=...); CPU backend only")
    else()
      set(_gc_cuda_ok ON)
    endif()
  endif()
endif()

if(_gc_cuda_ok)
  # Ampere (8.0, 8.6), Ada (8.9) and Hopper (9.0) machine code: the backend refuses CC < 8.0
  # (gc_cuda_probe), and embedding real SASS for each avoids a PTX JIT at first use. CI and
  # device checks pass -DCMAKE_CUDA_ARCHITECTURES=90 to build one.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    set(CMAKE_CUDA_ARCHITECTURES "80;86;89;90")
  endif()
  # One CUDA runtime, the shared one that CUDA::cudart links: CMake's default would add the
  # static archive to every CUDA link line as well (inert while the shared library comes
  # first; two runtimes would each keep their own error and capture state).
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_EXTENSIONS OFF)
  set(CMAKE_CUDA_VISIBILITY_PRESET hidden)
  set(_gc_cu cuda/backend.cu cuda/backend_common.cu cuda/backend_create.cu
    cuda/backend_autotune.cu cuda/backend_batch.cu cuda/backend_head_gemm.cu
    cuda/backend_pipeline.cu cuda/backend_plans.cu
    cuda/cudnn_conv.cu
    cuda/kernels.cu
    cuda/image_kernels.cu cuda/first_conv.cu cuda/first_conv_tc.cu
    cuda/first_block.cu)
  # plan_cache.c: plain C, the autotuner's choices on disk
  set(GC_CU_SOURCES ${_gc_cu} cuda/plan_cache.c)
  # The legacy conv API is deprecated in cuDNN 9: a deprecated call must not build (STYLE).
  # cuDNN marks its deprecated calls only when CUDNN_WARN_DEPRECATED is defined.
  # Never --use_fast_math: the GPU backend is validated against the CPU reference.
  # Every other warning is an error only with GC_WERROR: the device machine's host compiler
  # may warn where ours does not, and a failed build there costs a whole GPU session.
  # GC_CUDNN_DEPRECATION_ERRORS=OFF (scripts/device-check.sh) keeps them warnings: the GPU
  # machine's cuDNN may be newer than CI's and deprecate more, which must not cost a session.
  option(GC_CUDNN_DEPRECATION_ERRORS "cuDNN/CUDA deprecations are build errors in cuda/" ON)
  if(GC_CUDNN_DEPRECATION_ERRORS)
    set(_gc_cu_opts "-Xcompiler=-Wall,-Wextra,-Werror=deprecated-declarations"
      "-Werror=deprecated-declarations")
  else()
    set(_gc_cu_opts "-Xcompiler=-Wall,-Wextra")
  endif()
  if(GC_WERROR)
    list(APPEND _gc_cu_opts "-Werror=all-warnings")
  endif()
  set_source_files_properties(${_gc_cu} PROPERTIES
    COMPILE_DEFINITIONS CUDNN_WARN_DEPRECATED
    COMPILE_OPTIONS "${_gc_cu_opts}")
  # The image kernels must give the host code's bits (src/image_math.h): no multiply-add
  # contraction anywhere in that file (its shared formulas use round-to-nearest intrinsics
  # as well, so this is a second guard).
  set_property(SOURCE cuda/image_kernels.cu APPEND PROPERTY COMPILE_OPTIONS "-fmad=false")
  # The same for kernels.cu: its CAM kernels sum alpha * A terms, which nvcc would otherwise
  # contract into FMAs that the host build (x86-64 without -mfma) does not do, and their
  # results are compared bit for bit with their CPU twins (kernels_gpu). They are element-wise
  # and tiny next to the convolutions: no measurable cost.
  set_property(SOURCE cuda/kernels.cu APPEND PROPERTY COMPILE_OPTIONS "-fmad=false")
  # backend.cu packs a batch's images into pinned staging with OpenMP (host code only; the
  # library already links OpenMP for the C sources, whose runtime this shares)
  set_property(SOURCE cuda/backend.cu APPEND PROPERTY COMPILE_OPTIONS "-Xcompiler=-fopenmp")
  include_directories(SYSTEM ${CUDNN_INCLUDE_DIR})
  set(GC_CUDA_LIBS CUDA::cudart CUDA::cublas ${CUDNN_LIBRARY})
  # cuBLASLt for the head GEMMs' experiment (GC_HEAD_GEMM=lt, backend_head_gemm.cu); a toolkit
  # without it builds the backend all the same, the experiment compiled out
  if(TARGET CUDA::cublasLt)
    list(APPEND GC_CUDA_LIBS CUDA::cublasLt)
  else()
    add_compile_definitions(GC_NO_CUBLASLT)
    message(STATUS "gradcam: cuBLASLt not found: GC_HEAD_GEMM=lt compiled out")
  endif()
  # The built library and programs find the toolkit's and cuDNN's libraries where they were
  # found at build time (CMake leaves the toolkit's directory out of RUNPATH as an implicit
  # link directory; a pip wheel's cuDNN is on no loader path at all).
  get_filename_component(_gc_cudnn_dir ${CUDNN_LIBRARY} DIRECTORY)
  list(APPEND CMAKE_BUILD_RPATH ${_gc_cudnn_dir} ${CUDAToolkit_LIBRARY_DIR}) # cuDNN's first
  add_compile_definitions(GC_WITH_CUDA)
  set(GC_WITH_CUDA ON)
  message(STATUS "gradcam: CUDA backend ON (archs ${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${CUDNN_LIBRARY})")
else()
  set(GC_WITH_CUDA OFF)
endif()
