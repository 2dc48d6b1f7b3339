/*
 * backend_emu.cpp — the CUDA backend's host code and cuDNN graphs (cuda/backend*.cu,
 * cuda/cudnn_conv.cu), built by the host compiler for gradcam_emu: linked with the mocks of
 * cudart, cuBLAS and cuDNN (mock_*.cpp) instead of the real libraries, it runs on the CPU.
 */
#include "backend.cu"
#include "backend_autotune.cu"
#include "backend_batch.cu"
#include "backend_common.cu"
#include "backend_create.cu"
#include "backend_head_gemm.cu"
#include "backend_pipeline.cu"
#include "backend_plans.cu"
#include "cudnn_conv.cu"
