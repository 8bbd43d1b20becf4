# pipeline-validation: rendered by `gnuplot pipeline-validation.gp` from pipeline-validation.dat
set datafile separator whitespace
set terminal pngcairo size 770,490 font 'sans,11' fontscale 0.8 linewidth 0.8 pointscale 0.8 noenhanced
set output 'pipeline-validation.png'
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
set title 'Decode step: simulated against measured on 2 and 4 H100s linked by NVLink'
set grid
set samples 200
set lmargin at screen 0.0923
set rmargin at screen 0.7182
set bmargin at screen 0.1200
set tmargin at screen 0.9000
set xrange [8.423805386:83.16693]
set logscale x
set xtics ('10 ms' 10, '20 ms' 20, '50 ms' 50)
unset mxtics
set yrange [8.423805386:83.16693]
set logscale y
set ytics ('10 ms' 10, '20 ms' 20, '50 ms' 50)
unset mytics
set key at screen 0.748, screen 0.900 left top Left reverse samplen 2 spacing 1.1
set xlabel 'measured decode step (TPOT)'
set ylabel 'simulated decode step'
plot 'pipeline-validation.dat' index 0 using 2:3 with points lt 1 pt 5 ps 1.6 title 'deepseek-v3 AFD', 'pipeline-validation.dat' index 1 using 2:3 with points lt 2 pt 7 ps 1.6 title 'deepseek-v3 EP', 'pipeline-validation.dat' index 2 using 2:3 with points lt 3 pt 9 ps 1.6 title 'step3 AFD', 'pipeline-validation.dat' index 3 using 2:3 with points lt 4 pt 11 ps 1.6 title 'step3 EP', x with lines lc rgb '#404040' lw 2 title 'simulated = measured', 1.1*x with lines lc rgb '#808080' dt 2 title 'within 10%', 0.9*x with lines lc rgb '#808080' dt 2 notitle, 1.2*x with lines lc rgb '#b0b0b0' dt 3 title 'within 20%', 0.8*x with lines lc rgb '#b0b0b0' dt 3 notitle
unset multiplot
reset
set terminal svg size 1100,700 font 'sans,11' noenhanced
set output 'pipeline-validation.svg'
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
set title 'Decode step: simulated against measured on 2 and 4 H100s linked by NVLink'
set grid
set samples 200
set lmargin at screen 0.0923
set rmargin at screen 0.7182
set bmargin at screen 0.1200
set tmargin at screen 0.9000
set xrange [8.423805386:83.16693]
set logscale x
set xtics ('10 ms' 10, '20 ms' 20, '50 ms' 50)
unset mxtics
set yrange [8.423805386:83.16693]
set logscale y
set ytics ('10 ms' 10, '20 ms' 20, '50 ms' 50)
unset mytics
set key at screen 0.748, screen 0.900 left top Left reverse samplen 2 spacing 1.1
set xlabel 'measured decode step (TPOT)'
set ylabel 'simulated decode step'
plot 'pipeline-validation.dat' index 0 using 2:3 with points lt 1 pt 5 ps 1.6 title 'deepseek-v3 AFD', 'pipeline-validation.dat' index 1 using 2:3 with points lt 2 pt 7 ps 1.6 title 'deepseek-v3 EP', 'pipeline-validation.dat' index 2 using 2:3 with points lt 3 pt 9 ps 1.6 title 'step3 AFD', 'pipeline-validation.dat' index 3 using 2:3 with points lt 4 pt 11 ps 1.6 title 'step3 EP', x with lines lc rgb '#404040' lw 2 title 'simulated = measured', 1.1*x with lines lc rgb '#808080' dt 2 title 'within 10%', 0.9*x with lines lc rgb '#808080' dt 2 notitle, 1.2*x with lines lc rgb '#b0b0b0' dt 3 title 'within 20%', 0.8*x with lines lc rgb '#b0b0b0' dt 3 notitle
unset multiplot
reset
