/*
 * kernels_emu.cpp — the CUDA backend's own kernels, built by the host compiler to run on the
 * CPU (tests/emu/cuda_emulate.h says how and what that checks).
 */
#include "kernels.cu"
#include "image_kernels.cu"
#include "first_conv.cu"
#include "first_conv_tc.cu"
#include "first_block.cu"
