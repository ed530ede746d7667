// Writes the image seeds of fuzz/corpus/image: tiny PNG (BGR, grey, BGRA, 16-bit), JPEG (baseline,
// grey, progressive), BMP and TIFF files, so the image harness starts inside every decoder.
//   g++ -I/usr/include/opencv4 tools/fuzz_seed_images.cpp -o /tmp/fuzz_seed_images \
//       -lopencv_core -lopencv_imgcodecs && /tmp/fuzz_seed_images fuzz/corpus/image
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>
int main(int, char** argv) {
  std::string out = argv[1];
  cv::Mat bgr(6, 8, CV_8UC3, cv::Scalar(40, 90, 200));
  cv::Mat grey(5, 7, CV_8UC1, cv::Scalar(128));
  cv::Mat bgra(4, 4, CV_8UC4, cv::Scalar(1, 2, 3, 255));
  cv::Mat deep(3, 5, CV_16UC3, cv::Scalar(1000, 20000, 65535));
  cv::imwrite(out + "/bgr.png", bgr);
  cv::imwrite(out + "/grey.png", grey);
  cv::imwrite(out + "/bgra.png", bgra);
  cv::imwrite(out + "/deep16.png", deep);
  cv::imwrite(out + "/bgr.jpg", bgr, {cv::IMWRITE_JPEG_QUALITY, 50});
  cv::imwrite(out + "/grey.jpg", grey);
  cv::imwrite(out + "/progressive.jpg", bgr, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  cv::imwrite(out + "/bgr.bmp", bgr);
  cv::imwrite(out + "/grey.bmp", grey);
  cv::imwrite(out + "/bgr.tif", bgr);
  cv::imwrite(out + "/deep16.tif", deep);
  return 0;
}
