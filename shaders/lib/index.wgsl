// Workgroup grids over 65535 in x are folded into y; kernels recover a linear workgroup index.
fn linear_workgroup(wg: vec3<u32>, num: vec3<u32>) -> u32 {
  return wg.x + wg.y * num.x + wg.z * num.x * num.y;
}
