# calibration-roofline: rendered by `gnuplot calibration-roofline.gp` from calibration-roofline.dat
set datafile separator whitespace
set terminal pngcairo size 1100,700 font 'sans,11' noenhanced
set output 'calibration-roofline.png'
set multiplot layout 1,2 title 'Calibration of h100 on NVIDIA H100 80GB HBM3'
set logscale xy
set grid
set key bottom right font ',8'
set xlabel 'arithmetic intensity (FLOP/byte)'
set ylabel 'achieved FLOP/s'
plot 'calibration-roofline.dat' index 0 using 2:3 with points pt 4 title "attention_gqa/bf16", 'calibration-roofline.dat' index 1 using 2:3 with points pt 6 title "attention_gqa/fp8", 'calibration-roofline.dat' index 2 using 2:3 with points pt 8 title "attention_layer/fp8", 'calibration-roofline.dat' index 3 using 2:3 with points pt 10 title "attention_mfa/bf16", 'calibration-roofline.dat' index 4 using 2:3 with points pt 5 title "attention_mfa/fp8", 'calibration-roofline.dat' index 5 using 2:3 with points pt 7 title "attention_mla/bf16", 'calibration-roofline.dat' index 6 using 2:3 with points pt 9 title "attention_mla/fp8", 'calibration-roofline.dat' index 7 using 2:3 with points pt 11 title "elementwise/bf16", 'calibration-roofline.dat' index 8 using 2:3 with points pt 4 title "gemm/bf16", 'calibration-roofline.dat' index 9 using 2:3 with points pt 6 title "gemm/fp8", 'calibration-roofline.dat' index 10 using 2:3 with points pt 8 title "moe_ffn/bf16", 'calibration-roofline.dat' index 11 using 2:3 with points pt 10 title "moe_ffn/fp8", (x*3.01894e+12 < 1.44758e+15 ? x*3.01894e+12 : 1.44758e+15) with lines lw 2 dt 2 title 'roofline (copy bw, fp8 GEMM)', (x*3.01894e+12 < 7.99556e+14 ? x*3.01894e+12 : 7.99556e+14) with lines lw 1 dt 3 title 'roofline (copy bw, bf16 GEMM)'
set xlabel 'measured time (us)'
set ylabel 'predicted time (us)'
plot 'calibration-roofline.dat' index 0 using 4:5 with points pt 4 title "attention_gqa/bf16", 'calibration-roofline.dat' index 1 using 4:5 with points pt 6 title "attention_gqa/fp8", 'calibration-roofline.dat' index 3 using 4:5 with points pt 10 title "attention_mfa/bf16", 'calibration-roofline.dat' index 4 using 4:5 with points pt 5 title "attention_mfa/fp8", 'calibration-roofline.dat' index 5 using 4:5 with points pt 7 title "attention_mla/bf16", 'calibration-roofline.dat' index 6 using 4:5 with points pt 9 title "attention_mla/fp8", 'calibration-roofline.dat' index 7 using 4:5 with points pt 11 title "elementwise/bf16", 'calibration-roofline.dat' index 8 using 4:5 with points pt 4 title "gemm/bf16", 'calibration-roofline.dat' index 9 using 4:5 with points pt 6 title "gemm/fp8", 'calibration-roofline.dat' index 10 using 4:5 with points pt 8 title "moe_ffn/bf16", 'calibration-roofline.dat' index 11 using 4:5 with points pt 10 title "moe_ffn/fp8", x with lines dt 2 title 'predicted = measured'
unset multiplot
reset
set terminal svg size 1100,700 font 'sans,11' noenhanced
set output 'calibration-roofline.svg'
set multiplot layout 1,2 title 'Calibration of h100 on NVIDIA H100 80GB HBM3'
set logscale xy
set grid
set key bottom right font ',8'
set xlabel 'arithmetic intensity (FLOP/byte)'
set ylabel 'achieved FLOP/s'
plot 'calibration-roofline.dat' index 0 using 2:3 with points pt 4 title "attention_gqa/bf16", 'calibration-roofline.dat' index 1 using 2:3 with points pt 6 title "attention_gqa/fp8", 'calibration-roofline.dat' index 2 using 2:3 with points pt 8 title "attention_layer/fp8", 'calibration-roofline.dat' index 3 using 2:3 with points pt 10 title "attention_mfa/bf16", 'calibration-roofline.dat' index 4 using 2:3 with points pt 5 title "attention_mfa/fp8", 'calibration-roofline.dat' index 5 using 2:3 with points pt 7 title "attention_mla/bf16", 'calibration-roofline.dat' index 6 using 2:3 with points pt 9 title "attention_mla/fp8", 'calibration-roofline.dat' index 7 using 2:3 with points pt 11 title "elementwise/bf16", 'calibration-roofline.dat' index 8 using 2:3 with points pt 4 title "gemm/bf16", 'calibration-roofline.dat' index 9 using 2:3 with points pt 6 title "gemm/fp8", 'calibration-roofline.dat' index 10 using 2:3 with points pt 8 title "moe_ffn/bf16", 'calibration-roofline.dat' index 11 using 2:3 with points pt 10 title "moe_ffn/fp8", (x*3.01894e+12 < 1.44758e+15 ? x*3.01894e+12 : 1.44758e+15) with lines lw 2 dt 2 title 'roofline (copy bw, fp8 GEMM)', (x*3.01894e+12 < 7.99556e+14 ? x*3.01894e+12 : 7.99556e+14) with lines lw 1 dt 3 title 'roofline (copy bw, bf16 GEMM)'
set xlabel 'measured time (us)'
set ylabel 'predicted time (us)'
plot 'calibration-roofline.dat' index 0 using 4:5 with points pt 4 title "attention_gqa/bf16", 'calibration-roofline.dat' index 1 using 4:5 with points pt 6 title "attention_gqa/fp8", 'calibration-roofline.dat' index 3 using 4:5 with points pt 10 title "attention_mfa/bf16", 'calibration-roofline.dat' index 4 using 4:5 with points pt 5 title "attention_mfa/fp8", 'calibration-roofline.dat' index 5 using 4:5 with points pt 7 title "attention_mla/bf16", 'calibration-roofline.dat' index 6 using 4:5 with points pt 9 title "attention_mla/fp8", 'calibration-roofline.dat' index 7 using 4:5 with points pt 11 title "elementwise/bf16", 'calibration-roofline.dat' index 8 using 4:5 with points pt 4 title "gemm/bf16", 'calibration-roofline.dat' index 9 using 4:5 with points pt 6 title "gemm/fp8", 'calibration-roofline.dat' index 10 using 4:5 with points pt 8 title "moe_ffn/bf16", 'calibration-roofline.dat' index 11 using 4:5 with points pt 10 title "moe_ffn/fp8", x with lines dt 2 title 'predicted = measured'
unset multiplot
reset
