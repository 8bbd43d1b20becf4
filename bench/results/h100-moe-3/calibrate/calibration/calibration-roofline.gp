# calibration-roofline: rendered by `gnuplot calibration-roofline.gp` from calibration-roofline.dat
set datafile separator whitespace
set terminal pngcairo size 770,490 font 'sans,11' fontscale 0.8 linewidth 0.8 pointscale 0.8 noenhanced
set output 'calibration-roofline.png'
set linetype 1 lc rgb '#4e79a7' lw 1.5
set linetype 2 lc rgb '#f28e2b' lw 1.5
set linetype 3 lc rgb '#e15759' lw 1.5
set linetype 4 lc rgb '#59a14f' lw 1.5
set linetype 5 lc rgb '#b07aa1' lw 1.5
set linetype 6 lc rgb '#76b7b2' lw 1.5
set linetype 7 lc rgb '#9c755f' lw 1.5
set linetype 8 lc rgb '#ff9da7' lw 1.5
set linetype 9 lc rgb '#bab0ac' lw 1.5
set linetype 10 lc rgb '#edc948' lw 1.5
set linetype cycle 10
set multiplot title "Calibration of h100 on NVIDIA H100 80GB HBM3: every kernel measured"
set grid
set samples 400
set lmargin at screen 0.1485
set rmargin at screen 0.5084
set bmargin at screen 0.2396
set tmargin at screen 0.9000
set xrange [0.7676244123:5324.8]
set logscale x
set xtics ("1" 1, "10" 10, "100" 100, "1000" 1000)
unset mxtics
set yrange [7.44485556e+11:1.872426066e+15]
set logscale y
set ytics ("1 TFLOP/s" 1e+12, "2 TFLOP/s" 2e+12, "5 TFLOP/s" 5e+12, "10 TFLOP/s" 1e+13, "20 TFLOP/s" 2e+13, "50 TFLOP/s" 5e+13, "100 TFLOP/s" 1e+14, "200 TFLOP/s" 2e+14, "500 TFLOP/s" 5e+14, "1 PFLOP/s" 1e+15)
unset mytics
set key at screen 0.5, screen 0.01 center bottom vertical maxrows 5 Left reverse samplen 2
set xlabel 'arithmetic intensity (FLOP/byte)'
set ylabel 'achieved FLOP/s'
plot 'calibration-roofline.dat' index 0 using 2:3 with points lt 1 pt 4 title "attention_gqa/bf16", 'calibration-roofline.dat' index 1 using 2:3 with points lt 2 pt 5 title "attention_gqa/fp8", 'calibration-roofline.dat' index 2 using 2:3 with points lt 3 pt 6 title "attention_layer/fp8", 'calibration-roofline.dat' index 3 using 2:3 with points lt 4 pt 7 title "attention_mfa/bf16", 'calibration-roofline.dat' index 4 using 2:3 with points lt 5 pt 8 title "attention_mfa/fp8", 'calibration-roofline.dat' index 5 using 2:3 with points lt 6 pt 9 title "attention_mla/bf16", 'calibration-roofline.dat' index 6 using 2:3 with points lt 7 pt 10 title "attention_mla/fp8", 'calibration-roofline.dat' index 7 using 2:3 with points lt 8 pt 11 title "gemm/bf16", 'calibration-roofline.dat' index 8 using 2:3 with points lt 9 pt 12 title "gemm/fp8", 'calibration-roofline.dat' index 9 using 2:3 with points lt 10 pt 13 title "moe_ffn/bf16", 'calibration-roofline.dat' index 10 using 2:3 with points lt 1 pt 14 title "moe_ffn/fp8", (x*2.9969e+12 < 1.44033e+15 ? x*2.9969e+12 : 1.44033e+15) with lines lc rgb '#404040' lw 2 dt 2 title "roofline (copy bw, fp8 GEMM)", (x*2.9969e+12 < 7.99622e+14 ? x*2.9969e+12 : 7.99622e+14) with lines lc rgb '#404040' lw 1 dt 3 title "roofline (copy bw, bf16 GEMM)"
set lmargin at screen 0.6100
set rmargin at screen 0.9700
set bmargin at screen 0.2396
set tmargin at screen 0.9000
set xrange [4.456666647:9959.155083]
set logscale x
set xtics ("10 us" 10, "100 us" 100, "1 ms" 1000)
unset mxtics
set yrange [4.456666647:9959.155083]
set logscale y
set ytics ("5 us" 5, "10 us" 10, "20 us" 20, "50 us" 50, "100 us" 100, "200 us" 200, "500 us" 500, "1 ms" 1000, "2 ms" 2000, "5 ms" 5000)
unset mytics
set xlabel 'measured time'
set ylabel 'predicted time (fit)'
plot 'calibration-roofline.dat' index 0 using 4:5 with points lt 1 pt 4 notitle, 'calibration-roofline.dat' index 1 using 4:5 with points lt 2 pt 5 notitle, 'calibration-roofline.dat' index 3 using 4:5 with points lt 4 pt 7 notitle, 'calibration-roofline.dat' index 4 using 4:5 with points lt 5 pt 8 notitle, 'calibration-roofline.dat' index 5 using 4:5 with points lt 6 pt 9 notitle, 'calibration-roofline.dat' index 6 using 4:5 with points lt 7 pt 10 notitle, 'calibration-roofline.dat' index 7 using 4:5 with points lt 8 pt 11 notitle, 'calibration-roofline.dat' index 8 using 4:5 with points lt 9 pt 12 notitle, 'calibration-roofline.dat' index 9 using 4:5 with points lt 10 pt 13 notitle, 'calibration-roofline.dat' index 10 using 4:5 with points lt 1 pt 14 notitle, x with lines lc rgb '#404040' dt 2 notitle
unset multiplot
reset
set terminal svg size 1100,700 font 'sans,11' noenhanced
set output 'calibration-roofline.svg'
set linetype 1 lc rgb '#4e79a7' lw 1.5
set linetype 2 lc rgb '#f28e2b' lw 1.5
set linetype 3 lc rgb '#e15759' lw 1.5
set linetype 4 lc rgb '#59a14f' lw 1.5
set linetype 5 lc rgb '#b07aa1' lw 1.5
set linetype 6 lc rgb '#76b7b2' lw 1.5
set linetype 7 lc rgb '#9c755f' lw 1.5
set linetype 8 lc rgb '#ff9da7' lw 1.5
set linetype 9 lc rgb '#bab0ac' lw 1.5
set linetype 10 lc rgb '#edc948' lw 1.5
set linetype cycle 10
set multiplot title "Calibration of h100 on NVIDIA H100 80GB HBM3: every kernel measured"
set grid
set samples 400
set lmargin at screen 0.1485
set rmargin at screen 0.5084
set bmargin at screen 0.2396
set tmargin at screen 0.9000
set xrange [0.7676244123:5324.8]
set logscale x
set xtics ("1" 1, "10" 10, "100" 100, "1000" 1000)
unset mxtics
set yrange [7.44485556e+11:1.872426066e+15]
set logscale y
set ytics ("1 TFLOP/s" 1e+12, "2 TFLOP/s" 2e+12, "5 TFLOP/s" 5e+12, "10 TFLOP/s" 1e+13, "20 TFLOP/s" 2e+13, "50 TFLOP/s" 5e+13, "100 TFLOP/s" 1e+14, "200 TFLOP/s" 2e+14, "500 TFLOP/s" 5e+14, "1 PFLOP/s" 1e+15)
unset mytics
set key at screen 0.5, screen 0.01 center bottom vertical maxrows 5 Left reverse samplen 2
set xlabel 'arithmetic intensity (FLOP/byte)'
set ylabel 'achieved FLOP/s'
plot 'calibration-roofline.dat' index 0 using 2:3 with points lt 1 pt 4 title "attention_gqa/bf16", 'calibration-roofline.dat' index 1 using 2:3 with points lt 2 pt 5 title "attention_gqa/fp8", 'calibration-roofline.dat' index 2 using 2:3 with points lt 3 pt 6 title "attention_layer/fp8", 'calibration-roofline.dat' index 3 using 2:3 with points lt 4 pt 7 title "attention_mfa/bf16", 'calibration-roofline.dat' index 4 using 2:3 with points lt 5 pt 8 title "attention_mfa/fp8", 'calibration-roofline.dat' index 5 using 2:3 with points lt 6 pt 9 title "attention_mla/bf16", 'calibration-roofline.dat' index 6 using 2:3 with points lt 7 pt 10 title "attention_mla/fp8", 'calibration-roofline.dat' index 7 using 2:3 with points lt 8 pt 11 title "gemm/bf16", 'calibration-roofline.dat' index 8 using 2:3 with points lt 9 pt 12 title "gemm/fp8", 'calibration-roofline.dat' index 9 using 2:3 with points lt 10 pt 13 title "moe_ffn/bf16", 'calibration-roofline.dat' index 10 using 2:3 with points lt 1 pt 14 title "moe_ffn/fp8", (x*2.9969e+12 < 1.44033e+15 ? x*2.9969e+12 : 1.44033e+15) with lines lc rgb '#404040' lw 2 dt 2 title "roofline (copy bw, fp8 GEMM)", (x*2.9969e+12 < 7.99622e+14 ? x*2.9969e+12 : 7.99622e+14) with lines lc rgb '#404040' lw 1 dt 3 title "roofline (copy bw, bf16 GEMM)"
set lmargin at screen 0.6100
set rmargin at screen 0.9700
set bmargin at screen 0.2396
set tmargin at screen 0.9000
set xrange [4.456666647:9959.155083]
set logscale x
set xtics ("10 us" 10, "100 us" 100, "1 ms" 1000)
unset mxtics
set yrange [4.456666647:9959.155083]
set logscale y
set ytics ("5 us" 5, "10 us" 10, "20 us" 20, "50 us" 50, "100 us" 100, "200 us" 200, "500 us" 500, "1 ms" 1000, "2 ms" 2000, "5 ms" 5000)
unset mytics
set xlabel 'measured time'
set ylabel 'predicted time (fit)'
plot 'calibration-roofline.dat' index 0 using 4:5 with points lt 1 pt 4 notitle, 'calibration-roofline.dat' index 1 using 4:5 with points lt 2 pt 5 notitle, 'calibration-roofline.dat' index 3 using 4:5 with points lt 4 pt 7 notitle, 'calibration-roofline.dat' index 4 using 4:5 with points lt 5 pt 8 notitle, 'calibration-roofline.dat' index 5 using 4:5 with points lt 6 pt 9 notitle, 'calibration-roofline.dat' index 6 using 4:5 with points lt 7 pt 10 notitle, 'calibration-roofline.dat' index 7 using 4:5 with points lt 8 pt 11 notitle, 'calibration-roofline.dat' index 8 using 4:5 with points lt 9 pt 12 notitle, 'calibration-roofline.dat' index 9 using 4:5 with points lt 10 pt 13 notitle, 'calibration-roofline.dat' index 10 using 4:5 with points lt 1 pt 14 notitle, x with lines lc rgb '#404040' dt 2 notitle
unset multiplot
reset
