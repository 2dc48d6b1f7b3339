# The MPI build of the command: GC_WITH_MPI runs `mpirun -np K gradcam ...` as K cooperating
# ranks (src/cli/mpi_shard.c; without it that file is no-op stubs). Included after the
# gradcam_cli target is defined.
option(GC_WITH_MPI "Build the gradcam command with MPI (mpirun -np K: ranks share the inputs)"
  OFF)
if(GC_WITH_MPI)
  find_package(MPI REQUIRED COMPONENTS C) # Debian: libopenmpi-dev openmpi-bin
  target_link_libraries(gradcam_cli PRIVATE MPI::MPI_C)
  target_compile_definitions(gradcam_cli PRIVATE GC_WITH_MPI)
  message(STATUS "gradcam: the command is built with MPI (MPI ${MPI_C_VERSION})")
endif()
